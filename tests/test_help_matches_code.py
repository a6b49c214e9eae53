"""The README, the docs/ pages and the help texts against the parser (issue 36 item 6): every
`bench` command and flag the README or a docs/ page names exists (and each value it gives an option
with choices is one of them), every subcommand is in the README itself, and every command, flag and
stated default a help text names is the code's. Mentions are read from fenced code blocks (a line's code, and the inline code in its
comment) and from inline code in the prose; plain prose is not read."""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmark.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))  # the pages the README links: protocol, real data, ...
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`((?:[^`\n]|\n(?!\n))+)`")  # inline code; it may wrap a line, not a paragraph
MENTION = re.compile(r"(?<![\w./-])bench\s+(.+)", re.S)  # not weld-bench, not a path
FLAG = re.compile(r"--[A-Za-z][\w-]*")
COMMENT = re.compile(r"(?:^|\s)#")  # a shell comment starts at a `#` after a blank
SEPARATORS = ("&&", ";", "\\")
# Bare flags (inline code that starts with a flag) that are no option of `bench`, each with where
# it belongs. NOTE: keep this to flags of other programs the README or docs/ name beside bench's.
NOT_BENCH = {"--check": "scripts/gpu_throughput.py's flag (docs/real-data.md, Throughput)",
             "--sizes": "scripts/bench_scale.py's flag (docs/real-data.md, What a run will cost)"}


@dataclass
class Mention:
    where: str  # the text it was read from
    path: tuple[str, ...] = ()  # the subcommands, e.g. ("data", "check")
    flags: list[tuple[str, str | None]] = field(default_factory=list)  # (flag, the value after it)
    unknown: str | None = None  # a word where a subcommand must be
    alternatives: list[tuple[str, ...]] = field(default_factory=list)  # `golden update|check`


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions  # NOTE: argparse has no public list of actions
                 if isinstance(a, argparse._SubParsersAction)), {})


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) of the parser and every subcommand under it."""
    yield path, parser
    for name, sub in subcommands(parser).items():
        yield from walk(sub, (*path, name))


def parser_at(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        parser = subcommands(parser)[name]
    return parser


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


# ---------------------------------------------------------------------------- reading mentions
def _tokens(text: str) -> list[str]:
    out = []
    for token in text.split():
        if token in SEPARATORS or token.startswith("#"):
            break
        out.append(token.strip(",.;:'\"()`"))
    return out


def read_flags(tokens: list[str]) -> list[tuple[str, str | None]]:
    """(flag, the word after it: its value if it takes one) of every flag among `tokens`;
    `--port=6379` gives its own value."""
    flags = []
    for i, token in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        found = FLAG.findall(token)  # NOTE: one token can hold two: `[--dry-run|--print-config]`
        flags += [(flag, token.partition("=")[2] or (after if k == len(found) - 1 else None))
                  for k, flag in enumerate(found)]
    return flags


def parse_mention(text: str, root: argparse.ArgumentParser) -> Mention:
    """`text` after the word `bench`: subcommands while the parser has them, then flags."""
    mention, parser = Mention(where=f"bench {' '.join(text.split())}"), root
    tokens = _tokens(text)
    for i, token in enumerate(tokens):
        subs = subcommands(parser)
        if FLAG.search(token) or not subs:
            mention.flags = read_flags(tokens[i:])
            break
        names = token.strip("[]").split("|")  # `golden update|check`: each is a subcommand
        if not all(n in subs for n in names):
            mention.unknown = token
            break
        mention.alternatives += [(*mention.path, other) for other in names[1:]]
        mention.path += (names[0],)
        parser = subs[names[0]]
    return mention


def code_pieces(markdown: str) -> list[str]:
    """The command text of a page: each code-block line's code (continuations joined) and
    every inline code span (in the prose and in code-block comments)."""
    pieces = []
    for block in FENCE.findall(markdown):
        for line in block.replace("\\\n", " ").splitlines():
            cut = COMMENT.search(line)
            pieces.append(line[:cut.start()] if cut else line)
            pieces += INLINE.findall(line[cut.start():]) if cut else []
    pieces += INLINE.findall(FENCE.sub("", markdown))
    return pieces


def mentions_in(pieces: list[str], root: argparse.ArgumentParser) -> list[Mention]:
    return [parse_mention(m.group(1), root) for piece in pieces for m in MENTION.finditer(piece)]


def bare_flags(pieces: list[str]) -> list[str]:
    """The flags of inline code that starts with a flag and names no command (`--rerun`)."""
    return [flag for piece in pieces if piece.lstrip().startswith("--") and not MENTION.search(piece)
            for flag in FLAG.findall(piece)]


def read_pages(pages: list[Path]) -> tuple[list[Mention], list[str]]:
    """The mentions (each `where` led by its page) and the bare flags of `pages`."""
    mentions, flags, root = [], [], build_parser()
    for page in pages:
        pieces = code_pieces(page.read_text())
        found = mentions_in(pieces, root)
        for m in found:
            m.where = f"{page.relative_to(ROOT)}: {m.where}"
        mentions, flags = mentions + found, flags + bare_flags(pieces)
    return mentions, flags


@pytest.fixture(scope="module")
def readme() -> tuple[list[Mention], list[str]]:
    """What README.md itself names: every subcommand must be among it."""
    return read_pages([README])


@pytest.fixture(scope="module")
def documented() -> tuple[list[Mention], list[str]]:
    """What README.md and every docs/ page name: each command and flag must exist."""
    return read_pages([README, *DOCS])


# ---------------------------------------------------------------------------- checks
def flag_problems(mention: Mention) -> list[str]:
    """Each flag of a mention that is no option of its subcommand (nor of `bench` itself), and
    each value it gives an option with choices that is not one of them."""
    known = {**options(build_parser()), **options(parser_at(mention.path))}
    problems = []
    for flag, value in mention.flags:
        action = known.get(flag)
        if action is None:
            problems.append(f"{mention.where}: {flag} is no option of bench {' '.join(mention.path)}")
        elif action.choices and action.nargs != 0 and value and not _placeholder(value):
            bad = [v for v in value.strip("[]").split("|") if v not in map(str, action.choices)]
            problems += [f"{mention.where}: {flag} {v}: not one of {', '.join(map(str, action.choices))}"
                         for v in bad]
    return problems


def _placeholder(value: str) -> bool:
    """A value the README writes as a name to fill in (S, FILE, <run>) or another flag."""
    value = value.strip("[]")
    return value.isupper() or "<" in value or value.startswith("-") or not value


def mentioned_paths(mentions: list[Mention]) -> set[tuple[str, ...]]:
    """Every subcommand path a mention names, its parents and the `a|b` alternatives included."""
    return {p[:i] for m in mentions for p in [m.path, *m.alternatives] for i in range(len(p) + 1)}


def test_the_readme_and_docs_name_commands(readme, documented):
    mentions, _ = documented
    assert len(mentions) > 40  # NOTE: the parsing found the command lists, not nothing
    expected = {("run",), ("data", "check"), ("golden", "update"), ("known-answers",)}
    assert expected <= {m.path for m in mentions}
    assert expected <= {m.path for m in readme[0]}  # the README's own command list
    assert len(DOCS) >= 5  # protocol, real data, adding a method, results, design
    silent = [p.name for p in DOCS if not read_pages([p])[0]]
    assert silent == [], f"docs pages whose commands the parsing did not find: {silent}"


def test_every_command_the_readme_and_docs_name_exists(documented):
    mentions, _ = documented
    assert [f"{m.where}: {m.unknown!r} is no subcommand there" for m in mentions if m.unknown] == []


def test_every_flag_the_readme_and_docs_name_is_an_option_of_its_command(documented):
    mentions, _ = documented
    assert [p for m in mentions for p in flag_problems(m)] == []


def test_every_bare_flag_the_readme_and_docs_name_is_an_option_of_bench(documented):
    _, flags = documented
    known = {flag for _, parser in walk(build_parser()) for flag in options(parser)}
    assert flags and [f for f in flags if f not in known and f not in NOT_BENCH] == []


def test_every_subcommand_is_in_the_readme(readme):
    mentions, _ = readme
    named = mentioned_paths(mentions)
    missing = [" ".join(path) for path, _ in walk(build_parser()) if path and path not in named]
    assert missing == [], f"subcommands the README never names: {missing}"


# ---------------------------------------------------------------------------- help texts
def help_texts() -> list[tuple[tuple[str, ...], str]]:
    """(subcommand path, text) of every help text: each parser's own (its line in `--help` of its
    parent) and each of its options'."""
    texts = []
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                texts += [((*path, a.dest), a.help) for a in action._choices_actions if a.help]
            elif action.help and action.help is not argparse.SUPPRESS:
                texts.append((path, action.help))
    return texts


def test_help_texts_name_existing_commands_and_flags():
    """A `bench ...` in a help text is read as in the README; a flag before it is one of the
    parser whose help it is (`--selection val` in the help of `--selection-budget`)."""
    root, problems = build_parser(), []
    for path, text in help_texts():
        mentions = mentions_in([text], root)
        problems += [f"{m.where}: {m.unknown!r} is no subcommand" for m in mentions if m.unknown]
        own = Mention(where=text, path=path, flags=read_flags(_tokens(MENTION.split(text)[0])))
        problems += [f"help of bench {' '.join(path)}: {p}"
                     for m in [own, *mentions] for p in flag_problems(m)]
    assert problems == []


def test_a_default_a_help_text_states_is_the_codes():
    """An option whose help says "(default: X)" itself (the formatter adds the others from the
    code) and has a plain default: X is that default."""
    stated = []
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            said = re.search(r"default: ([^)]*)", action.help or "")
            if said is None or action.default in (None, False, [], ()):
                continue
            default = action.default
            if isinstance(default, Path):
                default = default.relative_to(ROOT) if default.is_relative_to(ROOT) else default
            stated.append((" ".join((*path, *action.option_strings)), str(default), said.group(1)))
    assert stated  # NOTE: some are stated (--split, --golden), so the check reads something
    assert [s for s in stated if s[1] not in s[2]] == []


def test_every_help_renders():
    for _, parser in walk(build_parser()):
        assert parser.format_help()  # NOTE: a stray % in a help text fails here, not at a user's --help
