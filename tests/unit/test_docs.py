"""The docs stay in step with themselves: docs/DESIGN.md's table of contents
is the one scripts/doc-toc.py would write, the pages' links to files of the
repository lead somewhere, and no page points at an issue number."""
import glob
import importlib.util
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PAGES = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=ROOT)),
         "deploy/README.md"]


def load_doc_toc():
    path = os.path.join(ROOT, "scripts", "doc-toc.py")  # a script's name, not a module's
    spec = importlib.util.spec_from_file_location("doc_toc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


doc_toc = load_doc_toc()


def read(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def test_design_table_of_contents_is_current():
    text = read("docs/DESIGN.md")
    assert text == doc_toc.regenerate(text), \
        "stale: run python3 scripts/doc-toc.py docs/DESIGN.md"


@pytest.mark.parametrize("title, anchor", [
    ("A job's life", "a-jobs-life"),
    ("The deployment (two nodes, images built here)", "the-deployment-two-nodes-images-built-here"),
    ("Security: the `/metrics` port", "security-the-metrics-port"),
    ("Live events", "live-events"),
    ("Quotas, retention and fair sharing", "quotas-retention-and-fair-sharing"),
    ("snake_case and hyphen-ated", "snake_case-and-hyphen-ated"),
])
def test_anchor_is_githubs(title, anchor):
    assert doc_toc.slug(title) == anchor


def test_regenerate_lists_headings_after_the_markers_only():
    text = "\n".join([
        "# Page", "## Contents", "<!-- toc -->", "- [Old](#old)", "<!-- /toc -->",
        "## One", "```", "## not a heading: in code", "```", "### Under one", "## One", "#### too deep",
    ])
    lines = doc_toc.regenerate(text).split("\n")
    assert lines[3:7] == ["- [One](#one)", "  - [Under one](#under-one)",
                          "- [One](#one-1)", "<!-- /toc -->"]
    assert doc_toc.regenerate("\n".join(lines)) == "\n".join(lines)  # idempotent


def test_check_mode_fails_on_a_stale_list(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- toc -->\n<!-- /toc -->\n## New section\n")
    assert doc_toc.main(["--check", str(page)]) == 1
    assert doc_toc.main([str(page)]) == 0
    assert doc_toc.main(["--check", str(page)]) == 0
    assert "- [New section](#new-section)" in page.read_text()


@pytest.mark.parametrize("page", PAGES)
def test_links_to_repository_files_lead_somewhere(page):
    base = os.path.dirname(os.path.join(ROOT, page))
    targets = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", read(page))
    missing = [t for t in targets if not os.path.exists(os.path.join(base, t))]
    assert not missing, f"{page} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_no_issue_numbers(page):
    found = re.findall(r"(?i)\bissue[ -]?#?\d+", read(page))
    assert not found, f"{page} names issues: {found}"
