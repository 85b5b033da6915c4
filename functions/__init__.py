"""Lambda handlers of the pipeline: thin handlers over pure, typed core functions.

Deployed as one code bundle (the ``functions`` package); each function's handler is
``functions.<module>.handler``.
"""
