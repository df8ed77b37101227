#!/usr/bin/env python3
"""Library messages speak in library terms (docs/architecture.md, "Layers"): the text of
an error, a warning, a note or an instruction in src/lib never names a command-line option
or a devpass command; the front end adds those (dp_error_remedy, dp_changeset.next).

What devpass writes into files (comments in configuration, udev rules, units), the
commands it runs, and check's "fix" column (the user's to-do list of commands) are data,
not messages: they are not these calls and are not read.

Prints "ok - boundary: ..." / "not ok - boundary: ...: WHY"; exit 1 on a finding.
    tests/boundary/messages.py [--top DIR]
"""
import os
import re
import sys

# the calls whose text is a message, up to the parenthesis that opens their arguments
MESSAGE_CALL = re.compile(
    r"\b(?:dp_error_set(?:_remedy)?"
    r"|dp_strv_addf?\s*\(\s*&?[\w.>-]*\b(?:warnings|notes|instructions|trouble)\b"
    r"|dp_changeset_note_step)\s*\(?")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
VERBS = ("bind", "unbind", "restore", "reset", "check", "setup", "persist", "pool", "claim",
         "release", "export", "list", "show", "groups")
COMMAND = re.compile(r"\bdevpass (?:%s)\b" % "|".join(VERBS))


def call_text(src, start):
    """The string literals of the call whose name starts at start, joined."""
    depth, i, text = 0, src.index("(", start), []
    while i < len(src):
        c = src[i]
        if c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            text.append(src[i + 1:j])
            i = j
        elif c == "'":
            i = src.index("'", i + 2 if src[i + 1] == "\\" else i + 1)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    return "".join(text), src.count("\n", 0, start) + 1


def findings(top):
    for folder, _, files in os.walk(os.path.join(top, "src/lib")):
        for name in sorted(files):
            if not name.endswith(".c"):
                continue
            path = os.path.join(folder, name)
            src = open(path, encoding="utf-8").read()
            for m in MESSAGE_CALL.finditer(src):
                text, line = call_text(src, m.start())
                bad = OPTION.search(text) or COMMAND.search(text)
                if bad:
                    yield f"{os.path.relpath(path, top)}:{line} says '{bad.group(0)}'"


def main():
    top = sys.argv[sys.argv.index("--top") + 1] if "--top" in sys.argv[:-1] else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
    found = list(findings(top))
    name = "library messages name no command-line option and no devpass command"
    if found:
        print(f"not ok - boundary: {name}: {'; '.join(found)} (say it in library terms and "
              "give the remedy: dp_error_set_remedy, dp_changeset_note_step)")
        return 1
    print(f"ok - boundary: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
