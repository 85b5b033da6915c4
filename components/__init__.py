"""One ``pulumi.ComponentResource`` per concern; ``config`` parses stack config once, at the edge."""
