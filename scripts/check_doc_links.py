#!/usr/bin/env python3
"""Checks that every relative link of the project's Markdown files resolves.

The README links to the guides in docs/ and they link back, often to a
heading: a moved or renamed section breaks such a link silently, as GitHub
renders it anyway. So every [text](target) and [label]: target whose target
is not a URL must name an existing file or directory, and a #fragment must be
a heading of the target Markdown file (or of the file itself), as GitHub
derives anchors: lower case, punctuation other than '-' and '_' removed,
spaces turned into '-', "-1", "-2", ... appended to repeated headings.
Links inside code (fenced blocks, `inline code`) are not links.

Usage: check_doc_links.py [--root DIR] [FILE.md ...]
Without files, the Markdown files check_doc_snippets.py checks (every *.md of
the repository except under *_fixture directories). Exit status 1 lists each
broken link as FILE:LINE: target: reason.
"""

import argparse
import os
import re
import sys

from check_doc_snippets import repository_markdown

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target "title"): the target has no spaces; nested brackets in the text are rare here.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(heading):
    """GitHub's anchor for a heading's text."""
    code = []
    text = INLINE_CODE.sub(lambda m: code.append(m.group(2)) or "\0%d\0" % (len(code) - 1), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text)                     # inline HTML tags, outside code only
    text = re.sub(r"\0(\d+)\0", lambda m: code[int(m.group(1))], text)
    text = text.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def scan(text):
    """(anchors, links): the headings' anchors and (line, target) of each link outside code."""
    anchors, links, counts = set(), [], {}
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            n = counts.get(base, 0)
            counts[base] = n + 1
            anchors.add(base if n == 0 else "%s-%d" % (base, n))
        for anchor in re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line):
            anchors.add(anchor)
        outside_code = INLINE_CODE.sub("", line)
        reference = REFERENCE.match(outside_code)
        if reference:
            links.append((number, reference.group(1)))
            continue
        links += [(number, target) for target in INLINE_LINK.findall(outside_code)]
    return anchors, links


def check(root, files):
    cache = {}

    def anchors_of(path):
        if path not in cache:
            with open(path, encoding="utf-8") as f:
                cache[path] = scan(f.read())
        return cache[path][0]

    problems = []
    for name in files:
        path = os.path.join(root, name)
        anchors_of(path)
        for line, target in cache[path][1]:
            if not target or EXTERNAL.match(target):
                continue
            file_part, _, fragment = target.partition("#")
            destination = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = "%s:%d: %s" % (name, line, target)
            if not os.path.exists(destination):
                problems.append("%s: no such file or directory" % where)
            elif not os.path.realpath(destination).startswith(os.path.realpath(root) + os.sep):
                problems.append("%s: outside the repository" % where)
            elif fragment and destination.endswith(".md") and fragment not in anchors_of(destination):
                problems.append("%s: no heading with anchor #%s in %s" %
                                (where, fragment, os.path.relpath(destination, root)))
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="Markdown files (default: every *.md of the repository)")
    parser.add_argument("--root", default=os.path.dirname(here), help="the repository (default: this script's parent)")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    files = [os.path.relpath(os.path.abspath(f), root) for f in args.files] or repository_markdown(root)
    problems = check(root, files)
    for problem in problems:
        print(problem)
    print("%d Markdown file(s), %d broken link(s)" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
