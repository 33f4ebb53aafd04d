#!/usr/bin/env python3
"""Regenerate the table of contents of a Markdown page.

The contents live between the lines `<!-- toc -->` and `<!-- /toc -->` and
list the page's `##` and `###` headings after the closing marker, linked by
the anchors GitHub gives them. Written by a script so that sections added on
several branches need no hand-merged list: after a merge, run it again.

    python3 scripts/doc-toc.py docs/DESIGN.md          # rewrite in place
    python3 scripts/doc-toc.py --check docs/DESIGN.md  # exit 1 if stale

tests/unit/test_docs.py runs the check, so a stale list fails the suite.
"""
import re
import sys

START, END = "<!-- toc -->", "<!-- /toc -->"
LEVELS = {2: "", 3: "  "}  # heading level -> indent of its list item


def slug(title):
    """GitHub's anchor for a heading: lower case, punctuation dropped
    (hyphens and underscores kept), each space a hyphen."""
    text = re.sub(r"[`*]", "", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(lines):
    """(level, title) of each `##`/`###` heading, fenced code left out."""
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"(#{2,3}) (.+?)\s*$", line)
        if match and not fenced:
            yield len(match.group(1)), match.group(2)


def toc(lines):
    """The list's lines; a repeated anchor gets -1, -2, ... as on GitHub."""
    seen, out = {}, []
    for level, title in headings(lines):
        anchor = slug(title)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        if count:
            anchor = f"{anchor}-{count}"
        out.append(f"{LEVELS[level]}- [{title}](#{anchor})")
    return out


def regenerate(text):
    """`text` with the list between the markers rebuilt from the headings
    after the closing marker."""
    lines = text.split("\n")
    try:
        start, end = lines.index(START), lines.index(END)
    except ValueError:
        raise SystemExit(f"no {START} ... {END} markers") from None
    body = lines[end + 1:]
    return "\n".join(lines[:start + 1] + toc(body) + lines[end:])


def main(argv):
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    stale = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = regenerate(text)
        if new != text:
            stale.append(path)
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    if check and stale:
        print("stale table of contents (run scripts/doc-toc.py):", *stale)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
