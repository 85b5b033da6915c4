"""The state machine graph of the console: ASL -> layered layout -> SVG, each state coloured by its outcome.

Pure functions over plain data (the ASL as a dict, an execution as ``Execution.to_json()``), so
the drawing follows whatever definition is deployed, and every rule here has a unit test.

Layout is a small Sugiyama-style layering, as the Step Functions console draws top to bottom:
ranks by longest path from the start (back edges of loops set aside), long edges broken into
dummy points, rank orders by barycenter sweeps, and x positions pulled towards their neighbours.

Outcomes, as the AWS console colours them:

- ``failed``: the state where the execution's error arose (a ``Fail`` state, or a state whose
  failure no ``Catch`` handled): the last state entered by a failed execution;
- ``caught``: a state that failed and whose failure a ``Catch`` handled, so the execution went on
  (in this pipeline: into the dead-letter path);
- ``succeeded``: entered and left without an error it kept (a failure that a ``Retry`` overcame
  is marked ``retried``);
- ``running``: entered by a running execution and not left yet;
- ``not_reached``: never entered.

The state the execution views call the *failed state* (``Execution.failed_state``: the task whose
error the dead letter carries) is marked apart, with its error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise
from typing import Any

START, END = "__start__", "__end__"
OUTCOMES = ("succeeded", "failed", "caught", "running", "not_reached")
NODE_HEIGHT = 44.0
TERMINAL_SIZE = 22.0
RANK_GAP = 34.0
NODE_GAP = 26.0
DUMMY_WIDTH = 8.0
MARGIN = 16.0
CHAR_WIDTH = 7.4
"""Average advance of the 13px label font: node widths follow their names."""
SWEEPS = 8
PLACEMENT_ROUNDS = 16
CATCH_WEIGHT = 0.15


@dataclass(frozen=True)
class Transition:
    """One arrow of the definition: ``kind`` is start, next, choice, default, catch or end."""

    source: str
    target: str
    kind: str
    label: str = ""


@dataclass
class Node:
    id: str
    label: str
    detail: str
    width: float
    height: float
    rank: int = 0
    x: float = 0.0
    """Centre."""
    y: float = 0.0
    """Top."""
    dummy: bool = False

    @property
    def terminal(self) -> bool:
        return self.id in (START, END)


@dataclass
class Edge:
    transition: Transition
    points: list[tuple[float, float]] = field(default_factory=list)
    back: bool = False
    """Part of a loop: drawn beside the nodes, upwards."""


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    width: float
    height: float


# -- the definition's transitions ------------------------------------------------------------


def _condition(rule: Mapping[str, Any]) -> str:
    """A short label for a Choice rule: its comparison and value (``IsPresent true``)."""
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment"):
            continue
        if key in ("And", "Or", "Not"):
            return key
        text = f"{key} {str(value).lower() if isinstance(value, bool) else value}"
        return text if len(text) <= 28 else text[:27] + "…"
    return ""


def transitions(definition: Mapping[str, Any]) -> list[Transition]:
    """Every arrow of the top-level state machine, in definition order (start first, ends last)."""
    found = [Transition(START, definition["StartAt"], "start")]
    ends = []
    for name, state in definition["States"].items():
        if "Next" in state:
            found.append(Transition(name, state["Next"], "next"))
        for rule in state.get("Choices", []):
            found.append(Transition(name, rule["Next"], "choice", _condition(rule)))
        if "Default" in state:
            found.append(Transition(name, state["Default"], "default", "otherwise"))
        for catch in state.get("Catch", []):
            found.append(Transition(name, catch["Next"], "catch", ", ".join(catch.get("ErrorEquals", []))))
        if state.get("End") or state.get("Type") in ("Succeed", "Fail"):
            ends.append(Transition(name, END, "end"))
    return found + ends


def _detail(state: Mapping[str, Any]) -> str:
    """The second line of a node: what the state does (``lambda:invoke``, ``Map``, ``Choice``)."""
    resource = state.get("Resource", "")
    if resource.startswith("arn:aws:states:::"):
        return resource.removeprefix("arn:aws:states:::").split(".")[0]
    if resource:
        return "Task"
    return state.get("Type", "?")


# -- layout ----------------------------------------------------------------------------------


def layout(definition: Mapping[str, Any]) -> Layout:
    """Positions for every state and arrow of ``definition``; deterministic for a given definition."""
    states = definition["States"]
    arrows = [t for t in transitions(definition) if t.target in states or t.target == END]
    nodes: dict[str, Node] = {START: Node(START, "Start", "", TERMINAL_SIZE, TERMINAL_SIZE)}
    for name, state in states.items():
        detail = _detail(state)
        width = max(96.0, CHAR_WIDTH * max(len(name), len(detail)) + 28)
        nodes[name] = Node(name, name, detail, width, NODE_HEIGHT)
    nodes[END] = Node(END, "End", "", TERMINAL_SIZE, TERMINAL_SIZE)

    successors: dict[str, list[str]] = {name: [] for name in nodes}
    for arrow in arrows:
        if arrow.target not in successors[arrow.source]:
            successors[arrow.source].append(arrow.target)
    back = _back_edges(list(nodes), successors)
    _rank(nodes, successors, back)
    edges = [Edge(arrow, back=(arrow.source, arrow.target) in back) for arrow in arrows]
    chains = _dummies(nodes, edges)
    pairs = _segments(edges, chains, nodes)
    orders = _order(nodes, pairs)
    _place(nodes, orders, pairs)
    for edge in edges:
        edge.points = _route(nodes, edge, chains[id(edge)])
    width = max(node.x + node.width / 2 for node in nodes.values()) + MARGIN
    width += max((24.0 for edge in edges if edge.back), default=0.0)
    height = max(node.y + node.height for node in nodes.values()) + MARGIN
    return Layout({k: v for k, v in nodes.items() if not v.dummy}, edges, width, height)


def _back_edges(order: list[str], successors: Mapping[str, list[str]]) -> set[tuple[str, str]]:
    """Edges that close a loop (to a node still on the depth-first path), found from the start."""
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(successors[root]))]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(successors[child])))
    return back


def _rank(nodes: dict[str, Node], successors: Mapping[str, list[str]], back: set[tuple[str, str]]) -> None:
    """Longest path from the start over forward edges: every arrow points down at least one rank."""
    forward = {n: [c for c in successors[n] if (n, c) not in back] for n in nodes}
    incoming = {n: 0 for n in nodes}
    for children in forward.values():
        for child in children:
            incoming[child] += 1
    ready = [n for n in nodes if incoming[n] == 0]
    while ready:
        node = ready.pop(0)
        for child in forward[node]:
            nodes[child].rank = max(nodes[child].rank, nodes[node].rank + 1)
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
    # The end sits below everything, as in the console.
    nodes[END].rank = max(node.rank for key, node in nodes.items() if key != END) + 1


def _dummies(nodes: dict[str, Node], edges: list[Edge]) -> dict[int, list[str]]:
    """Break every arrow spanning several ranks into a chain of dummy points, one per rank crossed."""
    chains: dict[int, list[str]] = {}
    for index, edge in enumerate(edges):
        top, bottom = edge.transition.source, edge.transition.target
        if edge.back:
            top, bottom = bottom, top
        chain = []
        for rank in range(nodes[top].rank + 1, nodes[bottom].rank):
            dummy = f"__dummy_{index}_{rank}"
            nodes[dummy] = Node(dummy, "", "", DUMMY_WIDTH, NODE_HEIGHT, rank=rank, dummy=True)
            chain.append(dummy)
        chains[id(edge)] = chain
    return chains


def _segments(edges: list[Edge], chains: Mapping[int, list[str]], nodes: Mapping[str, Node]) -> list[tuple[str, str, float]]:
    """(upper, lower, weight) on adjacent ranks: every arrow as the dummy-point path it takes.

    Catch arrows weigh less, so the flow a change takes when nothing fails is drawn straight.
    """
    pairs: list[tuple[str, str, float]] = []
    for edge in edges:
        top, bottom = edge.transition.source, edge.transition.target
        if edge.back:
            top, bottom = bottom, top
        weight = CATCH_WEIGHT if edge.transition.kind == "catch" else 1.0
        path = [top, *chains[id(edge)], bottom]
        pairs.extend((a, b, weight) for a, b in pairwise(path) if nodes[a].rank < nodes[b].rank)
    return pairs


def _crossings(orders: list[list[str]], pairs: list[tuple[str, str, float]], nodes: Mapping[str, Node]) -> int:
    position = {node: index for order in orders for index, node in enumerate(order)}
    by_rank: dict[int, list[tuple[int, int]]] = {}
    for a, b, _ in pairs:
        by_rank.setdefault(nodes[a].rank, []).append((position[a], position[b]))
    total = 0
    for segments in by_rank.values():
        for i, (a1, b1) in enumerate(segments):
            for a2, b2 in segments[i + 1 :]:
                total += (a1 - a2) * (b1 - b2) < 0
    return total


def _order(nodes: dict[str, Node], pairs: list[tuple[str, str, float]]) -> list[list[str]]:
    """Nodes of each rank, left to right: definition order first, then barycenter sweeps (fewest crossings kept)."""
    ranks = max(node.rank for node in nodes.values()) + 1
    orders: list[list[str]] = [[] for _ in range(ranks)]
    for name, node in nodes.items():
        orders[node.rank].append(name)
    above: dict[str, list[str]] = {n: [] for n in nodes}
    below: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b, _ in pairs:
        below[a].append(b)
        above[b].append(a)
    best, best_crossings = [list(o) for o in orders], _crossings(orders, pairs, nodes)
    for sweep in range(SWEEPS):
        downwards = sweep % 2 == 0
        for rank in range(1, ranks) if downwards else range(ranks - 2, -1, -1):
            reference = {node: index for index, node in enumerate(orders[rank - 1 if downwards else rank + 1])}
            linked_to = above if downwards else below
            current = {node: index for index, node in enumerate(orders[rank])}
            keys = {node: _barycenter(node, reference, linked_to, current) for node in orders[rank]}
            orders[rank] = sorted(orders[rank], key=keys.__getitem__)
        crossings = _crossings(orders, pairs, nodes)
        if crossings < best_crossings:
            best, best_crossings = [list(o) for o in orders], crossings
    return best


def _barycenter(
    node: str, reference: Mapping[str, int], linked_to: Mapping[str, list[str]], current: Mapping[str, int]
) -> tuple[float, int]:
    """Sort key: the mean position of the node's neighbours on the reference rank (a node without any keeps its place)."""
    linked = [reference[n] for n in linked_to[node] if n in reference]
    return (sum(linked) / len(linked) if linked else float(current[node]), current[node])


def _place(nodes: dict[str, Node], orders: list[list[str]], pairs: list[tuple[str, str, float]]) -> None:
    """x: each node pulled to the weighted mean of its neighbours' centres, never closer than ``NODE_GAP``; y by rank."""
    neighbours: dict[str, dict[str, float]] = {n: {} for n in nodes}
    for a, b, weight in pairs:
        neighbours[a][b] = max(weight, neighbours[a].get(b, 0.0))
        neighbours[b][a] = max(weight, neighbours[b].get(a, 0.0))
    for order in orders:
        x = 0.0
        for name in order:
            nodes[name].x = x + nodes[name].width / 2
            x += nodes[name].width + NODE_GAP
    for _ in range(PLACEMENT_ROUNDS):
        for order in orders:
            desired = []
            for name in order:
                linked = neighbours[name]
                total = sum(linked.values())
                desired.append(sum(nodes[n].x * w for n, w in linked.items()) / total if total else nodes[name].x)
            _pack(nodes, order, desired)
    shift = MARGIN - min(node.x - node.width / 2 for node in nodes.values())
    for node in nodes.values():
        node.x += shift
        node.y = MARGIN + node.rank * (NODE_HEIGHT + RANK_GAP) + (NODE_HEIGHT - node.height) / 2


def _pack(nodes: Mapping[str, Node], order: list[str], desired: list[float]) -> None:
    """Move one rank's nodes towards their desired centres, keeping their order and gaps.

    A left-to-right pass pushes nodes right of their wish, a right-to-left pass left of it; both
    keep every gap, and so does their mean, which stays closest to what the neighbours want.
    """
    gaps = [(nodes[a].width + nodes[b].width) / 2 + NODE_GAP for a, b in pairwise(order)]
    rightwards, leftwards = list(desired), list(desired)
    for i in range(1, len(order)):
        rightwards[i] = max(rightwards[i], rightwards[i - 1] + gaps[i - 1])
    for i in range(len(order) - 2, -1, -1):
        leftwards[i] = min(leftwards[i], leftwards[i + 1] - gaps[i])
    for name, right, left in zip(order, rightwards, leftwards, strict=True):
        nodes[name].x = (right + left) / 2


def _route(nodes: Mapping[str, Node], edge: Edge, chain: list[str]) -> list[tuple[float, float]]:
    source, target = nodes[edge.transition.source], nodes[edge.transition.target]
    if edge.back:
        # Out of the source's right side, up beside the nodes, into the target's right side.
        lane = max(nodes[n].x + nodes[n].width / 2 for n in [source.id, target.id, *chain]) + 18
        return [
            (source.x + source.width / 2, source.y + source.height / 2),
            (lane, source.y + source.height / 2),
            (lane, target.y + target.height / 2),
            (target.x + target.width / 2, target.y + target.height / 2),
        ]
    points = [(source.x, source.y + source.height)]
    points += [(nodes[d].x, nodes[d].y + NODE_HEIGHT / 2) for d in chain]
    points.append((target.x, target.y))
    return points


# -- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateOutcome:
    outcome: str
    error: str | None = None
    cause: str | None = None
    retried: bool = False
    entered: int = 0
    """How often the execution entered the state."""


_PRIORITY = {"failed": 4, "caught": 3, "running": 2, "succeeded": 1, "not_reached": 0}


def state_outcomes(definition: Mapping[str, Any], execution: Mapping[str, Any]) -> dict[str, StateOutcome]:
    """Each top-level state's outcome in one execution (``Execution.to_json()``: its steps, in order).

    The steps are the execution's top-level StateEntered/StateExited events with the error a
    ``*Failed`` event gave them (``executions.build_execution``); whether a failure was caught is
    read from where the execution went next: into one of the state's ``Catch`` targets.
    """
    states = definition["States"]
    catches = {name: {c["Next"] for c in state.get("Catch", [])} for name, state in states.items()}
    steps = [step for step in execution.get("steps", []) if step.get("name") in states]
    status = execution.get("status")
    found: dict[str, StateOutcome] = {}
    for index, step in enumerate(steps):
        name, error = step["name"], step.get("error")
        following = steps[index + 1]["name"] if index + 1 < len(steps) else None
        last = following is None
        if last and status == "FAILED":
            outcome = StateOutcome("failed", error or execution.get("error"), step.get("cause") or execution.get("cause"))
        elif last and status == "RUNNING" and not step.get("exited"):
            outcome = StateOutcome("running")
        elif error and following in catches.get(name, set()):
            outcome = StateOutcome("caught", error, step.get("cause"))
        else:
            outcome = StateOutcome("succeeded", retried=bool(error))
        previous = found.get(name)
        entered = (previous.entered if previous else 0) + 1
        if previous and _PRIORITY[previous.outcome] > _PRIORITY[outcome.outcome]:
            outcome = previous
        found[name] = StateOutcome(outcome.outcome, outcome.error, outcome.cause, outcome.retried, entered)
    for name in states:
        found.setdefault(name, StateOutcome("not_reached"))
    return found


def taken(execution: Mapping[str, Any], definition: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The arrows the execution followed: from the start, between consecutive steps, and to the end."""
    names = [step["name"] for step in execution.get("steps", []) if step.get("name") in definition["States"]]
    if not names:
        return set()
    followed = {(START, names[0]), *pairwise(names)}
    if execution.get("status") in ("SUCCEEDED", "FAILED"):
        followed.add((names[-1], END))
    return followed


# -- SVG -------------------------------------------------------------------------------------


def _path(points: list[tuple[float, float]], back: bool) -> str:
    """Straight into and out of nodes, smooth in between: vertical tangents at every point."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.1f},{y0:.1f}"]
    if back:
        parts += [f"L{x:.1f},{y:.1f}" for x, y in rest]
        return " ".join(parts)
    previous = points[0]
    for x, y in rest:
        middle = (previous[1] + y) / 2
        parts.append(f"C{previous[0]:.1f},{middle:.1f} {x:.1f},{middle:.1f} {x:.1f},{y:.1f}")
        previous = (x, y)
    return " ".join(parts)


def render_svg(
    graph: Layout,
    outcomes: Mapping[str, StateOutcome] | None = None,
    failed_state: str | None = None,
    followed: Iterable[tuple[str, str]] = (),
) -> str:
    """The graph as one SVG element; states carry ``data-state`` and ``data-outcome`` for the page and tests."""
    outcomes = outcomes or {}
    followed = set(followed)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ct-graph" width="{graph.width:.0f}" height="{graph.height:.0f}" '
        f'viewBox="0 0 {graph.width:.0f} {graph.height:.0f}" role="img" aria-label="state machine graph">',
        '<defs><marker id="ct-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" class="ct-arrowhead"/></marker></defs>',
    ]
    for edge in graph.edges:
        t = edge.transition
        classes = f"ct-edge ct-edge-{t.kind}" + (" ct-taken" if (t.source, t.target) in followed else "")
        out.append(
            f'<path class="{classes}" data-source="{escape(t.source)}" data-target="{escape(t.target)}" '
            f'd="{_path(edge.points, edge.back)}" marker-end="url(#ct-arrow)"><title>{escape(t.label or t.kind)}</title></path>'
        )
        if t.kind in ("choice", "default") and not edge.back:
            # Beside the arrow's first stretch, on the side it turns to, so two labels of one Choice never meet.
            (x1, y1), (x2, y2) = edge.points[0], edge.points[1]
            anchor, dx = ("start", 6) if x2 >= x1 else ("end", -6)
            out.append(
                f'<text class="ct-edge-label" text-anchor="{anchor}" x="{x1 + (x2 - x1) * 0.35 + dx:.1f}" '
                f'y="{y1 + (y2 - y1) * 0.35 + 4:.1f}">{escape(t.label)}</text>'
            )
    for node in graph.nodes.values():
        if node.terminal:
            reached = any(node.id in pair for pair in followed)
            out.append(
                f'<g class="ct-terminal{" ct-reached" if reached else ""}" data-state="{node.id}">'
                f'<circle cx="{node.x:.1f}" cy="{node.y + node.height / 2:.1f}" r="{node.width / 2:.1f}"/>'
                f'<text x="{node.x + node.width / 2 + 6:.1f}" y="{node.y + node.height / 2 + 4:.1f}">{node.label}</text></g>'
            )
            continue
        found = outcomes.get(node.id)
        outcome = found.outcome if found else "none"
        marked = node.id == failed_state
        title = outcome.replace("_", " ") + (f" — {found.error}" if found and found.error else "")
        if found and found.retried:
            title += " (after a retried failure)"
        if marked:
            title += " — the failed state"
        left, top = node.x - node.width / 2, node.y
        attributes = f'data-state="{escape(node.id)}" data-outcome="{outcome}"' + (' data-failed-state="true"' if marked else "")
        out.append(
            f'<g class="ct-state ct-{outcome}{" ct-failed-state" if marked else ""}" {attributes}>'
            f"<title>{escape(node.id)}: {escape(title)}</title>"
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{node.width:.1f}" height="{node.height:.1f}" rx="6"/>'
            f'<text class="ct-name" x="{node.x:.1f}" y="{top + 19:.1f}">{escape(node.label)}</text>'
            f'<text class="ct-detail" x="{node.x:.1f}" y="{top + 35:.1f}">{escape(node.detail)}</text>'
        )
        if marked:
            out.append(f'<circle class="ct-badge" cx="{left + node.width:.1f}" cy="{top:.1f}" r="8"/>')
            out.append(f'<text class="ct-badge-mark" x="{left + node.width:.1f}" y="{top + 4:.1f}">!</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def execution_graph(definition: Mapping[str, Any], execution: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the execution view shows: the SVG and each state's outcome (JSON-ready)."""
    graph = layout(definition)
    if execution is None:
        return {"svg": render_svg(graph), "outcomes": {}}
    outcomes = state_outcomes(definition, execution)
    svg = render_svg(graph, outcomes, execution.get("failed_state"), taken(execution, definition))
    return {"svg": svg, "outcomes": {name: vars(found) for name, found in outcomes.items()}}
