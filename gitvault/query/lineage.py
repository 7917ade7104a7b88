"""Lineage walks: breadth-first over the lineage edges, depth-bounded, each node and edge once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitvault.storage import records
from gitvault.errors import QueryError, RecordNotFoundError
from gitvault.query.base import QueryBase, chunks, loads, marks

if TYPE_CHECKING:
    from gitvault.query.shapes import Lineage, LineageEdge, LineageNode

NODE_TYPES = ("experiment", "run", "model")
DIRECTIONS = ("ancestors", "descendants", "both")
MAX_DEPTH = 5
Node = tuple[str, str]


class LineageQueries(QueryBase):

    def get_lineage(self, node_type: str, node_id: str, direction: str = "both", depth: int = 2) -> Lineage:
        """{root, nodes, edges} reachable from one node within ``depth`` edges (1..5): ``root`` is
        the start node, ``nodes`` only the nodes the walk discovered (the root is not repeated
        there, as the seed documents), each once. Runs may be given by id prefix, experiments by
        id or path, models by id or ``name@version``."""
        if node_type not in NODE_TYPES:
            raise QueryError(f"node_type must be one of {', '.join(NODE_TYPES)}, got {node_type!r}")
        if direction not in DIRECTIONS:
            raise QueryError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise QueryError(f"depth must be an integer from 1 to {MAX_DEPTH}, got {depth!r}")
        root: Node = (node_type, self._lineage_id(node_type, node_id))
        conn = self.db()
        order: dict[Node, None] = {root: None}
        edges: dict[Any, LineageEdge] = {}
        model_names: dict[str, str] = {}
        walks = ["ancestors", "descendants"] if direction == "both" else [direction]
        for walk in walks:
            mine, other = ("child", "parent") if walk == "ancestors" else ("parent", "child")
            seen = {root}
            frontier = [root]
            for _ in range(depth):
                following: list[Node] = []
                for kind, ident in frontier:
                    rows = conn.execute(
                        "SELECT parent_type, parent_id, child_type, child_id, relation, metadata FROM lineage"
                        f" WHERE {mine}_type = ? AND {mine}_id = ? ORDER BY created_at, id", (kind, ident)).fetchall()
                    for row in rows:
                        edge: LineageEdge = {"parent_type": row[0], "parent_id": row[1], "child_type": row[2],
                                "child_id": row[3], "relation": row[4]}
                        edges.setdefault(tuple(edge.values()), edge)
                        meta = loads(row[5]) or {}
                        if row[0] == "model" and isinstance(meta, dict) and meta.get("name") and meta.get("version"):
                            model_names.setdefault(row[1], f"{meta['name']}@{meta['version']}")
                        node = (row[f"{other}_type"], row[f"{other}_id"])
                        if node not in seen:
                            seen.add(node)
                            following.append(node)
                            order.setdefault(node, None)
                frontier = following
                if not frontier:
                    break
        labels = self._labels(list(order), model_names)
        nodes: list[LineageNode] = [{"type": t, "id": i, "label": labels.get((t, i), i)} for t, i in order]
        return {"root": nodes[0], "nodes": nodes[1:], "edges": list(edges.values())}

    def _lineage_id(self, node_type: str, node_id: Any) -> str:
        if not isinstance(node_id, str) or not node_id.strip():
            raise QueryError(f"node_id must be a {node_type} id, got {node_id!r}")
        node_id = node_id.strip()
        conn = self.db()

        def known(candidate: str, table: str) -> bool:
            return bool(conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (candidate,)).fetchone()
                        or conn.execute("SELECT 1 FROM lineage WHERE (parent_type = ? AND parent_id = ?)"
                                        " OR (child_type = ? AND child_id = ?) LIMIT 1",
                                        (node_type, candidate, node_type, candidate)).fetchone())

        if node_type == "run":
            try:
                return self.resolve_run(node_id)
            except RecordNotFoundError:
                if known(node_id, "runs"):
                    return node_id  # a run of another clone, known only from lineage
                raise
        if node_type == "experiment":
            for candidate in (node_id, records.experiment_id(node_id)):
                if known(candidate, "experiments"):
                    return candidate
            raise RecordNotFoundError(f"Experiment not found: {node_id!r}")
        if known(node_id, "models"):
            return node_id
        if "@" in node_id:
            name, _, version = node_id.rpartition("@")
            candidate = records.model_id(name, version)
            if known(candidate, "models"):
                return candidate
        raise RecordNotFoundError(f"Model not found: {node_id!r} (give a model id or name@version)")

    def _labels(self, nodes: list[Node], model_names: dict[str, str]) -> dict[Node, str]:
        conn = self.db()
        labels: dict[Node, str] = {}
        run_ids = [i for t, i in nodes if t == "run"]
        for rid, item in self.run_items(run_ids).items():
            labels[("run", rid)] = item["label"]
        exp_ids = [i for t, i in nodes if t == "experiment"]
        for part in chunks(exp_ids):
            for eid, path in conn.execute(f"SELECT id, path FROM experiments WHERE id IN ({marks(len(part))})", part):
                labels[("experiment", eid)] = path
        model_ids = [i for t, i in nodes if t == "model"]
        for mid in model_ids:
            if mid in model_names:
                labels[("model", mid)] = model_names[mid]
        for part in chunks(model_ids):
            for mid, name, version in conn.execute(
                    f"SELECT id, name, version FROM models WHERE id IN ({marks(len(part))})", part):
                labels[("model", mid)] = f"{name}@{version}"
        return labels
