"""The docs-page writers the experiment drivers share (cellmodel.bench.doc_pages)."""

from __future__ import annotations

from pathlib import Path

from cellmodel.bench import doc_pages


def test_write_keeping_reading_keeps_the_hand_written_reading(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    doc_pages.write_keeping_reading(page, "# T\n\n| a |\n")  # a new page: nothing to keep
    assert page.read_text() == "# T\n\n| a |\n"
    page.write_text("# T\n\n| old |\n\n## Reading\n\nWhat it means.\n")
    doc_pages.write_keeping_reading(page, "# T\n\n| new |\n")
    assert page.read_text() == "# T\n\n| new |\n\n## Reading\n\nWhat it means.\n"


def test_print_and_keep_reading_writes_only_where_asked(tmp_path: Path, capsys) -> None:
    page = tmp_path / "page.md"
    doc_pages.print_and_keep_reading("table", None)
    assert capsys.readouterr().out == "table\n"
    assert not page.exists()
    doc_pages.print_and_keep_reading("table", page)
    assert page.read_text() == "table"


def test_replace_section_replaces_between_markers_or_appends(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    start, end = "<!-- s:start -->", "<!-- s:end -->"
    page.write_text("# B\n\nkept\n\n\n")
    doc_pages.replace_section(page, f"{start}\none\n{end}", start, end)
    assert page.read_text() == f"# B\n\nkept\n\n{start}\none\n{end}\n"
    doc_pages.replace_section(page, f"{start}\ntwo \\1\n{end}", start, end)  # no regex escapes
    assert page.read_text() == f"# B\n\nkept\n\n{start}\ntwo \\1\n{end}\n"
