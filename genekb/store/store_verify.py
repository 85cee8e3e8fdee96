"""`genekb verify` over a whole store: every version's files re-hashed, then the tags and the
catalog (`Store.verify` calls this)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from genekb.errors import IntegrityError
from genekb.store import integrity
from genekb.store.catalog_check import check_catalog
from genekb.store.ids import VERSION_NAME, tag_problem
from genekb.store.readers import EmbeddingVersion

if TYPE_CHECKING:
    from genekb.store.store import Store


def verify_store(
    store: Store,
    refs: Sequence[str] | None = None,
    rewrite_catalog: Callable[[Store], Any] | None = None,
) -> list[dict[str, Any]]:
    """Re-hash every file of the given versions (all when None), and check the tags and the
    catalog; one report per version, plus one for the store itself when checking all.
    `rewrite_catalog` (`genekb.store.catalog.rebuild`) rewrites a catalog that is merely
    behind the store; without it such a catalog is noted, not reported as damage."""
    refs = [refs] if isinstance(refs, str) else refs  # a bare "human" was read as ref "h"
    if refs:
        targets = []
        for ref in refs:
            v = store.version(ref)
            targets.append((v.kind, v.id))
            if isinstance(v, EmbeddingVersion):
                targets.append(("text", v.text_id))
        targets = list(dict.fromkeys(targets))
    else:
        targets = [("text", v) for v in store.version_ids("text")]
        targets += [("embedding", v) for v in store.version_ids("embedding")]
    reports = [integrity.verify_version(store.root, store.version_dir(k, v), k) for k, v in targets]
    if refs:
        return reports
    problems = tag_problems(store)
    clean = {r["id"] for r in reports if r["ok"]}
    notes = stray_folders(store)
    problems += check_catalog(store, clean, {v for _, v in targets}, notes, rewrite_catalog)
    reports.append(
        {"id": "tags+catalog", "kind": "store", "ok": not problems, "problems": problems,
         "notes": notes}
    )  # fmt: skip
    return reports


def tag_problems(store: Store) -> list[str]:
    """Tags that do not hold: tags.json unreadable, edited by hand (hash), unsigned, a tag
    pointing at an embedding version the store lacks, or a tag that breaks the naming rules."""
    path = store.tags_file
    try:
        tags, state = store.read_tags()
    except IntegrityError as exc:
        return [str(exc)]
    problems = []
    if state == "unsigned":
        problems.append(
            f"{path} records no sha256 (an older store), so an edit cannot be told apart; "
            "check its tags, then `genekb reindex --resign-tags`"
        )
    embedding_ids = set(store.version_ids("embedding"))
    for tag, vid in sorted(tags.items()):
        if vid not in embedding_ids:
            problems.append(f"{path}: tag {tag[:80]!r} points at missing {vid}")
        named = tag_problem(tag)
        if named:
            problems.append(
                f"{path}: {named} (`genekb tag --delete NAME` removes it; `genekb tag NAME"
                " VERSION` sets a tag by a name that keeps the rule)"
            )
    return problems


def stray_folders(store: Store) -> list[str]:
    """Notes on folders among the versions named by no id (a user's `cp -r emb-… emb-….bak`):
    every command passes them by, as no version and no damage, and never deletes them."""
    notes = []
    for kind, pattern in VERSION_NAME.items():
        base = store.version_dir(kind, "-").parent
        for entry in sorted(base.iterdir()) if base.is_dir() else []:
            if entry.is_dir() and not pattern.fullmatch(entry.name):
                notes.append(
                    f"{entry} is no {kind} version (its name is no version id) and no command"
                    " reads it; move it out of the store"
                )
    return notes
