"""Which files a `.dockerignore` leaves out of a Docker build context, by Docker's own rules.

A port of what BuildKit runs (github.com/moby/patternmatcher: `ignorefile.ReadAll`,
`Pattern.compile`, `Pattern.match` and `PatternMatcher.MatchesOrParentMatches`), so a policy test
can ask "does this path reach the image?" without Docker:

- A line starting with `#` is a comment; other lines are stripped of spaces; a leading `!` makes
  the pattern re-include; the pattern is cleaned like Go's `filepath.Clean` and loses a leading
  `/`.
- A pattern is Go's `filepath.Match` syntax (`*` and `?` never cross a `/`, `[...]` classes, `\\`
  escapes the next character) plus `**`, which matches any number of folders, none included. A
  pattern without `**` matches from the top of the context only: `.env` is not `src/.env`.
- A path is left out when the last pattern that matches it, or one of its parent folders, is not a
  `!` pattern.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

# Regular expression characters that mean nothing to filepath.Match (patternmatcher's shouldEscape).
_ESCAPED = frozenset(".+()|{}$")


@dataclass(frozen=True)
class Pattern:
    """One cleaned `.dockerignore` pattern, compiled as patternmatcher compiles it."""

    text: str
    exclusion: bool
    kind: str = field(init=False)  # exact, prefix, suffix or regexp: patternmatcher's matchType
    regexp: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        kind, expression = _compile(self.text)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "regexp", re.compile(expression))

    def matches(self, path: str) -> bool:
        """Whether the pattern matches this slash-separated path itself (not its parents)."""
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regexp.fullmatch(path) is not None


def _compile(pattern: str) -> tuple[str, str]:
    """patternmatcher's Pattern.compile: the match type and the regular expression (without ^$)."""
    expression, kind, position, index = "", "exact", 0, 0
    while position < len(pattern):
        character = pattern[position]
        position += 1
        if character == "*" and pattern[position : position + 1] == "*":
            position += 1
            if pattern[position : position + 1] == "/":
                position += 1  # `**/` is `**`
            if position == len(pattern):  # a trailing `**` accepts everything below
                if kind == "exact":
                    kind = "prefix"
                else:
                    expression, kind = expression + ".*", "regexp"
            else:  # any number of folders, none included
                expression, kind = expression + "(.*/)?", "regexp"
            if index == 0:
                kind = "suffix"
        elif character == "*":
            expression, kind = expression + "[^/]*", "regexp"
        elif character == "?":
            expression, kind = expression + "[^/]", "regexp"
        elif character in _ESCAPED:
            expression += "\\" + character
        elif character == "\\":
            if position < len(pattern):
                expression, kind = expression + "\\" + pattern[position], "regexp"
                position += 1
            else:  # a trailing backslash: Go leaves it alone
                expression += "\\\\"
        elif character in "[]":
            expression, kind = expression + character, "regexp"
        else:
            expression += character
        index += 1
    return kind, expression


def read_patterns(text: str) -> list[Pattern]:
    """The patterns of a `.dockerignore` file's text, as ignorefile.ReadAll reads them."""
    patterns = []
    for line in text.removeprefix("\ufeff").splitlines():
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)  # Go's filepath.Clean
            if len(line) > 1 and line.startswith("/"):
                line = line.lstrip("/")
        patterns.append(Pattern(line, exclusion))
    return patterns


def is_ignored(path: str, patterns: list[Pattern]) -> bool:
    """Whether Docker leaves this path (relative to the context, with `/`) out of the context."""
    path = posixpath.normpath(path)
    if path == ".":
        return False
    parent = posixpath.dirname(path) or "."
    parent_folders = parent.split("/")
    ignored = False
    for pattern in patterns:
        if pattern.exclusion != ignored:
            continue  # an exclusion can only re-include, an inclusion only leave out
        match = pattern.matches(path)
        if not match and parent != ".":
            match = any(
                pattern.matches("/".join(parent_folders[: depth + 1]))
                for depth in range(len(parent_folders))
            )
        if match:
            ignored = not pattern.exclusion
    return ignored
