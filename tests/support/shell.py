"""The programs a POSIX shell script (or a health check's shell command) runs: the words in
command position, less the shell's own keywords, builtins, variable assignments and the
script's functions (the arguments of one that runs "$@" are a command); here-document bodies
are data, not commands. Enough for the project's small
scripts, whose programs must be in the image that runs them."""

from __future__ import annotations

import re
import shlex

# keep the next word in command position
KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac", "!"}
KEYWORDS |= {"{", "}"}
# run by the shell itself: their arguments are not commands
BUILTINS = {"for", "case", "return", "set", "echo", "printf", "local", "export", "shift", "exit"}
BUILTINS |= {"true", "false", ":", "[", "test", "cd", "trap", "read", "."}
SEPARATORS = set("|&;()")


def programs_run(script: str) -> set[str]:
    lines, heredoc_end = [], None
    for line in re.sub(r"\\\n", " ", script).splitlines():
        if heredoc_end is not None:
            heredoc_end = None if line.strip() == heredoc_end else heredoc_end
            continue
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", line)
        if heredoc:
            heredoc_end, line = heredoc.group(1), line[: heredoc.start()]
        lines.append(line)
    functions = set(re.findall(r"^\s*(\w+)\(\)\s*\{", "\n".join(lines), re.M))
    # functions that run their arguments ("$@"): the word after them is a command
    wrappers, inside = set(), None
    for line in lines:
        if defined := re.match(r"^\s*(\w+)\(\)\s*\{", line):
            inside = defined.group(1)
        if inside and '"$@"' in line:
            wrappers.add(inside)
        if line.strip() == "}" or line.rstrip().endswith("; }"):
            inside = None
    found: set[str] = set()
    for line in lines:
        line = re.sub(r"^\s*\w+\(\)\s*\{", "", line)  # a function's body may follow
        lexer = shlex.shlex(line.replace("$(", " ( "), posix=True, punctuation_chars=True)
        lexer.commenters, lexer.whitespace_split = "#", True
        at_command = True
        for token in lexer:
            if set(token) <= SEPARATORS:
                at_command = True
            elif at_command and (token in KEYWORDS or re.match(r"^\w+=", token)):
                continue
            elif at_command:
                if token not in BUILTINS and token not in functions and "$" not in token:
                    found.add(token)
                at_command = token in wrappers
    return found
