#!/usr/bin/env python3
"""Compiles every C++ code block of the project's Markdown files.

The README's code is the first code a new user copies: a block that does not
compile costs them the library (issue 18 found one). So every ```cpp / ```c++
block is compiled with -fsyntax-only and the project's warning flags, and the
check runs as a ctest (tests/doc_snippets.cmake).

A block compiles as is: it is a whole translation unit. A block that is a
deliberate excerpt says so in an HTML comment right above its fence, which the
rendered Markdown does not show:

  <!-- snippet: fragment -->       statements: the block's leading #include and
                                   using lines stay at file scope, the rest is
                                   the body of a function
  <!-- snippet: declarations -->   file-scope declarations that need names the
                                   reader supplies
  <!-- snippet: skip (reason) -->  not compiled; only for a block that cannot
                                   compile by nature, and the reason is required

Fragments and declarations get the default preamble
(scripts/doc_snippets_preamble.hpp: Profile, load_profile, user, object, ...)
after their own includes. Further lines inside the marker's comment are code
placed at file scope after the preamble, for names that need a dogpile type:

  <!-- snippet: fragment
  extern std::shared_ptr<dogpile::redis::Client> client;
  -->

Errors name the Markdown file and line (#line directives map the compiler's
messages back to it).

Usage: check_doc_snippets.py [--root DIR] [--compiler CXX] [FILE.md ...]
Without files, every *.md of the repository is checked, except those under a
directory whose name ends in _fixture (the check's own deliberately broken
test input).
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys

CPP_LANGUAGES = {"cpp", "c++", "cxx", "cc"}
KINDS = {"fragment", "declarations", "skip"}
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
MARKER_START = re.compile(r"^\s*<!--\s*snippet:\s*(?P<rest>.*)$")
HOISTED = re.compile(r"^\s*(#\s*include\b|using\b|//|$)")
BASE_FLAGS = ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]


class Block:
    def __init__(self, path, line, lines, kind="whole", reason="", given=None, given_line=0):
        self.path = path          # as shown in messages
        self.line = line          # 1-based line of the opening fence
        self.lines = lines        # the code, fence indent removed
        self.kind = kind
        self.reason = reason
        self.given = given or []  # extra file-scope lines from the marker
        self.given_line = given_line


def parse_marker(lines, start):
    """Returns (kind, reason, given lines, first given line index, end index) of
    the marker comment starting at lines[start], or an error string."""
    match = MARKER_START.match(lines[start])
    rest = match.group("rest")
    body = []
    end = start
    if "-->" in rest:
        rest = rest[: rest.index("-->")]
    else:
        end = start + 1
        while end < len(lines) and "-->" not in lines[end]:
            body.append(lines[end])
            end += 1
        if end == len(lines):
            return "a snippet marker comment is never closed with -->"
        tail = lines[end][: lines[end].index("-->")]
        if tail.strip():
            body.append(tail)
    head = re.match(r"^\s*(\w+)\s*(\((?P<reason>.*)\))?\s*$", rest)
    if not head or head.group(1) not in KINDS:
        return "unknown snippet marker '%s' (expected one of: %s)" % (rest.strip(), ", ".join(sorted(KINDS)))
    kind = head.group(1)
    reason = (head.group("reason") or "").strip()
    if kind == "skip" and not reason:
        return "'snippet: skip' needs a reason: <!-- snippet: skip (why it cannot compile) -->"
    if kind == "skip" and body:
        return "'snippet: skip' takes no code lines"
    return kind, reason, body, start + 1, end


def extract(path, shown):
    """Returns (blocks, errors) of one Markdown file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, errors = [], []
    pending = None  # (marker result, marker line) awaiting its fence
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if MARKER_START.match(line):
            if pending:
                errors.append("%s:%d: snippet marker not followed by a C++ code block" % (shown, pending[1]))
            result = parse_marker(lines, i)
            if isinstance(result, str):
                errors.append("%s:%d: %s" % (shown, i + 1, result))
                pending = None
                i += 1
                continue
            pending = (result, i + 1)
            i = result[4] + 1
            continue
        if fence:
            indent, marks, info = fence.group("indent"), fence.group("fence"), fence.group("info").lower()
            closing = re.compile(r"^ {0,3}" + re.escape(marks[0]) + "{%d,}\\s*$" % len(marks))
            body_start = i + 1
            j = body_start
            while j < len(lines) and not closing.match(lines[j]):
                j += 1
            code = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[body_start:j]]
            if info in CPP_LANGUAGES:
                if pending:
                    (kind, reason, given, given_line, _), _ = pending
                    blocks.append(Block(shown, i + 1, code, kind, reason, given, given_line + 1))
                else:
                    blocks.append(Block(shown, i + 1, code))
            else:
                if pending:
                    errors.append("%s:%d: snippet marker not followed by a C++ code block" % (shown, pending[1]))
                if not info and any(re.match(r"\s*#\s*include\s*[<\"]dogpile/", l) for l in code):
                    errors.append("%s:%d: a code block that includes a dogpile header has no language: "
                                  "label it ```cpp so that it is compiled" % (shown, i + 1))
            pending = None
            i = j + 1
            continue
        if pending and line.strip():
            errors.append("%s:%d: snippet marker not followed by a C++ code block" % (shown, pending[1]))
            pending = None
        i += 1
    if pending:
        errors.append("%s:%d: snippet marker not followed by a C++ code block" % (shown, pending[1]))
    return blocks, errors


def translation_unit(block, preamble):
    """The block as a TU whose #line directives point back at the Markdown."""
    def at(line):
        return '#line %d "%s"' % (line, block.path)

    first_code = block.line + 1
    if block.kind == "whole":
        return "\n".join([at(first_code)] + block.lines) + "\n"
    hoisted = 0
    while hoisted < len(block.lines) and HOISTED.match(block.lines[hoisted]):
        hoisted += 1
    out = [at(first_code)] + block.lines[:hoisted]
    out.append('#include "%s"' % preamble)
    if block.given:
        out += [at(block.given_line)] + block.given
    rest = block.lines[hoisted:]
    if block.kind == "fragment":
        # A fragment shows calls whose results the surrounding program would
        # use: unused locals are the excerpt's nature, not a bug in it.
        out += ["#pragma GCC diagnostic ignored \"-Wunused-variable\"",
                "#pragma GCC diagnostic ignored \"-Wunused-but-set-variable\"",
                at(block.line), "[[maybe_unused]] static void dogpile_doc_snippet() {"]
        out += [at(first_code + hoisted)] + rest + ["}"]
    else:
        out += [at(first_code + hoisted)] + rest
    return "\n".join(out) + "\n"


def first_error(output):
    for line in output.splitlines():
        if re.search(r"\b(fatal )?error\b", line):
            return line.strip()
    return output.strip().splitlines()[0] if output.strip() else "(no output)"


def compile_block(block, command, preamble):
    tu = translation_unit(block, preamble)
    try:
        run = subprocess.run(command + ["-x", "c++", "-"], input=tu, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s:%d: C++ block (%s) could not be compiled: %s" % (block.path, block.line, block.kind, e)
    if run.returncode == 0 and not run.stderr.strip():
        return None
    output = run.stderr + run.stdout
    return ("%s:%d: C++ block (%s) does not compile: %s\n%s" %
            (block.path, block.line, block.kind, first_error(output),
             "\n".join("    " + l for l in output.rstrip().splitlines())))


def repository_markdown(root):
    try:
        listed = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard",
                                 "--", "*.md"], capture_output=True, text=True, check=True).stdout.split("\n")
        files = [f for f in listed if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d != "_deps"
                          and not os.path.exists(os.path.join(directory, d, "CMakeCache.txt"))]
            files += [os.path.relpath(os.path.join(directory, n), root) for n in names if n.endswith(".md")]
    return sorted(f for f in set(files)
                  if not any(part.endswith("_fixture") for part in f.split("/")[:-1])
                  and os.path.isfile(os.path.join(root, f)))


def split_list(values):
    """Option values given once or more, each a ';'-separated list (CMake's)."""
    return [v for value in values for v in value.split(";") if v]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="Markdown files (default: every *.md of the repository)")
    parser.add_argument("--root", default=os.path.dirname(here), help="the repository (default: this script's parent)")
    parser.add_argument("--compiler", default=os.environ.get("CXX", "c++"))
    parser.add_argument("--include-dirs", action="append", default=[], help="';'-separated, passed as -I (default: ROOT/include)")
    parser.add_argument("--system-include-dirs", action="append", default=[],
                        help="';'-separated, passed as -isystem (the dependencies', as CMake passes imported targets')")
    parser.add_argument("--implicit-include-dirs", action="append", default=[],
                        help="';'-separated: the compiler's own, left out of the others")
    parser.add_argument("--defines", action="append", default=[], help="';'-separated, passed as -D")
    parser.add_argument("--flags", default="", help="more compiler flags, shell-quoted")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    root = os.path.abspath(args.root)
    includes = split_list(args.include_dirs) or [os.path.join(root, "include")]
    command = shlex.split(args.compiler) + BASE_FLAGS + shlex.split(args.flags)
    command += ["-I" + d for d in includes]
    known = set(includes) | set(split_list(args.implicit_include_dirs))
    for d in split_list(args.system_include_dirs):
        if d not in known:
            command += ["-isystem", d]
            known.add(d)
    command += ["-D" + d for d in dict.fromkeys(split_list(args.defines))]
    preamble = os.path.join(here, "doc_snippets_preamble.hpp")

    if args.files:
        files = [(f, os.path.relpath(os.path.abspath(f), root)) for f in args.files]
    else:
        files = [(os.path.join(root, f), f) for f in repository_markdown(root)]
    blocks, errors = [], []
    for path, shown in files:
        found, problems = extract(path, shown)
        blocks += found
        errors += problems
    if not blocks:
        errors.append("no C++ block found in %d Markdown file(s) under %s" % (len(files), root))
    compiled = [b for b in blocks if b.kind != "skip"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        errors += [e for e in pool.map(lambda b: compile_block(b, command, preamble), compiled) if e]

    skipped = [b for b in blocks if b.kind == "skip"]
    for b in skipped:
        print("%s:%d: skipped: %s" % (b.path, b.line, b.reason))
    counts = ", ".join("%d %s" % (sum(b.kind == k for b in blocks), k) for k in ("whole", "fragment", "declarations", "skip"))
    if errors:
        print("\n\n".join(errors))
        print("\nFAILED: %d problem(s) in the C++ blocks of %d Markdown file(s) (%d blocks: %s)" %
              (len(errors), len(files), len(blocks), counts))
        print("compiled with: %s" % " ".join(shlex.quote(c) for c in command))
        return 1
    print("OK: %d C++ blocks in %d Markdown file(s) compile (%s)" % (len(blocks), len(files), counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
