"""Credentials in what a run records and in what a push sends, found with detect-secrets' patterns.

The patterns are Yelp's detect-secrets 1.5.0 (Apache-2.0), copied into ``patterns.py`` rather than
depended on: the package brought seven packages into the base install (itself, ``requests`` with its
four dependencies, and PyYAML), for network verification gitvault never turned on and a scanner on an
air-gapped cluster must never do. ``patterns.py`` says what was copied and how to refresh it.

We use its known-format detectors (AWS, Azure, GitHub, GitLab, Slack, Stripe, Twilio, SendGrid,
OpenAI, PyPI, npm, Discord, Telegram, Mailchimp, Square, JWTs, private keys, passwords in URLs)
plus a few formats it lacks (Hugging Face, OpenAI project and Anthropic keys, Google API keys),
and its keyword detector (a secret-sounding name such as ``api_key`` or ``password`` given a
value), with its heuristic filters for templates (``${TOKEN}``) and indirect references
(``password = os.environ["PW"]``). No entropy detector: git shas, sha256 ids, ULIDs and base64
model hashes are what a tracker stores all day, and entropy cannot tell them from a key.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MARKER = "***redacted: {}***"
KEYWORD = "Secret Keyword"
_MARKED = re.compile(r"\*\*\*(redacted|purged)[^*]*\*\*\*")


@dataclass(frozen=True)
class Finding:
    """One suspected secret: where it is (a field path or ``file line N``) and which detector fired."""

    where: str
    detector: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detector}"


# ``patterns`` (detect-secrets' regexes, ~25 ms of compiling) is imported only when a text may
# hold a secret: see `_worth_loading`.

@functools.lru_cache(maxsize=1)
def _detectors() -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
    """(name, patterns) of every known-format detector, built once per process."""
    from gitvault.secrets import patterns

    found = list(patterns.FORMATS)
    found += [  # formats detect-secrets 1.5 does not know (a literal first lets the regex engine skip ahead)
        ("Hugging Face Token", (re.compile(r"hf_[A-Za-z0-9]{30,40}\b"),)),
        ("OpenAI Token", (re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"),)),
        ("Anthropic Key", (re.compile(r"sk-ant-[a-z]+\d*-[A-Za-z0-9_-]{20,}"),)),
        ("Google API Key", (re.compile(r"AIza[0-9A-Za-z_-]{35}\b"),)),
    ]
    return tuple(found)


@functools.lru_cache(maxsize=1)
def _keyword() -> re.Pattern[str]:
    """detect-secrets' secret-sounding words (api_key, password, secret, ...) anywhere in a text."""
    from gitvault.secrets import patterns

    return re.compile("|".join(patterns.DENYLIST), re.IGNORECASE)


# a field or option name ending in token or credentials (hf_token, access_token) is one too
_TOKEN_NAME = re.compile(r"(?:^|_)(?:token|credentials?)$", re.IGNORECASE)


# Text each detector's matches must contain (lower-cased), so a text without it skips that
# detector's patterns: a substring test is ~100x cheaper than a regex pass. Detectors not named
# here always run. tests/test_secrets.py checks each hint against a sample of its format.
_HINTS: dict[str, tuple[str, ...]] = {
    "AWS Access Key": ("akia", "asia", "abia", "acca", "a3t", "aws"),
    "Azure Storage Account access key": ("accountkey=",),
    "Basic Auth Credentials": ("://",),
    "GitHub Token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "GitLab Token": ("gl", "gr1348941"),
    "JSON Web Token": ("eyj",),
    "Mailchimp Access Key": ("-us",),
    "NPM tokens": ("_authtoken",),
    "OpenAI Token": ("t3blbkfj", "sk-"),
    "Private Key": ("private key",),
    "PyPI Token": ("pypi-",),
    "SendGrid API Key": ("sg.",),
    "Slack Token": ("xox", "hooks.slack.com"),
    "Square OAuth Secret": ("sq0csp-",),
    "Stripe Access Key": ("_live_",),
    "Telegram Bot Token": (":",),
    "Hugging Face Token": ("hf_",),
    "Anthropic Key": ("sk-ant-",),
    "Google API Key": ("aiza",),
}


def _format_hits(text: str) -> Iterator[tuple[str, str]]:
    """(detector, matched secret) of every known format in ``text``."""
    lower = text.lower()
    for name, patterns in _detectors():
        hints = _HINTS.get(name)
        if hints is not None and not any(h in lower for h in hints):
            continue
        for pattern in patterns:
            for match in pattern.finditer(text):
                secret = match.group(0)
                if match.lastindex and match.start(match.lastindex) > match.start(0):
                    secret = match.group(match.lastindex)  # the password in a URL, the key after its name
                if secret and not _MARKED.fullmatch(secret):
                    yield name, secret


def _plain_value(value: str) -> bool:
    """True when a value under a secret-sounding name looks like a secret rather than a reference
    to one: a template (``${TOKEN}``, ``<key>``), an environment variable (``$PW``), a path, a
    placeholder word or an already redacted value are not secrets."""
    from gitvault.secrets import patterns

    text = value.strip()
    if len(text) < 6 or _MARKED.search(text) or any(c.isspace() for c in text):
        return False
    if text.startswith(("/", "./", "../", "~", "file:")) or text.lower() in _PLACEHOLDERS:
        return False
    if patterns.is_templated_secret(text) or patterns.is_prefixed_with_dollar_sign(text):
        return False
    if _ENV_NAME.fullmatch(text):  # OPENAI_API_KEY: the name of a variable holding it
        return False
    return not patterns.is_sequential_string(text)


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_PLACEHOLDERS = {"none", "null", "true", "false", "changeme", "redacted", "xxxxxx", "******", "secret", "password"}


@functools.lru_cache(maxsize=4096)  # the same config keys come back run after run
def secret_name(name: str) -> bool:
    """True when a field or option name says its value is a credential (``api_key``, ``hf-token``)."""
    key = name.strip("-").replace("-", "_")
    if key.lower() in _SAFE_NAMES or key.lower().endswith(_REFERENCE_SUFFIXES):
        return False
    return bool(_keyword().search(key) or _TOKEN_NAME.search(key))


# a name saying its value is where a credential is, not the credential: api_key_env, password_file
_REFERENCE_SUFFIXES = ("_env", "_var", "_file", "_path", "_dir", "_name", "_id", "_length", "_len", "_size")
# names that contain a keyword but hold no credential in ML code
_SAFE_NAMES = {"max_tokens", "tokens", "num_tokens", "token_ids", "tokenizer", "tokenizer_name", "pad_token",
               "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token", "pad_token_id",
               "eos_token_id", "bos_token_id", "max_new_tokens", "min_new_tokens", "tokens_per_second",
               "token_count", "secret_scan"}


# -- structured values: config, params, argv, records -------------------------

def scan_value(value: Any, field: str) -> list[Finding]:
    """Every suspected secret in a nested value (dicts, lists, strings), by field path."""
    findings: list[Finding] = []
    if _suspect(value):
        _walk(value, field, "", findings, redact=False)
    return findings


def redact(value: Any, field: str) -> tuple[Any, list[Finding]]:
    """``value`` with each suspected secret replaced by ``***redacted: <detector>***`` (a known
    format: the matched text; a secret-sounding name: the whole value), and what was replaced.
    The input is never modified; it is returned as is when nothing was found."""
    findings: list[Finding] = []
    if not _suspect(value):
        return value, findings
    out = _walk(value, field, "", findings, redact=True)
    return (out if findings else value), findings


def _suspect(value: Any) -> bool:
    """Whether a nested value may hold a secret: every string joined into one text for the
    format detectors (one pass each instead of one per string), and a string under a
    secret-sounding name. The precise walk runs only when this says yes."""
    texts: list[str] = []
    named = False

    def gather(node: Any, key: str) -> None:
        nonlocal named
        if isinstance(node, str):
            if _IDENTIFIER.fullmatch(node):
                return
            texts.append(node)
            named = named or bool(key and _may_be_secret_name(key) and secret_name(key))
        elif isinstance(node, dict):
            for k, v in node.items():
                gather(v, str(k))
        elif isinstance(node, (list, tuple)):
            for v in node:
                gather(v, key)

    gather(value, "")
    text = "\n".join(texts)
    if not named and not _worth_loading(text):
        return False  # nothing any detector could match: the patterns are not even imported
    return named or next(_format_hits(text), None) is not None


# Necessary conditions, checked before the patterns are imported (~25 ms, once per process): a
# secret-sounding name holds one of these words, and every known format either holds one of its
# `_HINTS`, or a password in a URL (``://`` and ``@``), or a run of 24 or more token characters
# (Discord, Twilio, Telegram, Mailchimp, GitLab, OpenAI project keys and every other long key; so
# the hints too short to tell, such as ``gl`` in "glibc", are left out here). A run whose config and
# command line meet none of them never imports the scanner.
_NAME_WORDS = ("key", "pass", "pwd", "secret", "contras", "token", "credential")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_-]{24}")
_TOO_COMMON = ("gl", ":", "://", "sk-")
_LOAD_HINTS = tuple(h for hints in _HINTS.values() for h in hints if h not in _TOO_COMMON)


_IDENTIFIER = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}|[0-9a-f]{26}|[0-9a-f]{40}|[0-9a-f]{64}")
"""A string that is wholly an identifier gitvault or git made (a ULID, a content id, a git sha, a
sha256) is no secret: a random ULID can hold an AWS key id's shape (``...A3T6QVX4M6G0S90MV7RT``)."""


def _may_be_secret_name(name: str) -> bool:
    lower = name.lower()
    return any(w in lower for w in _NAME_WORDS)


def _worth_loading(text: str) -> bool:
    lower = text.lower()
    return (any(h in lower for h in _LOAD_HINTS) or ("://" in lower and "@" in lower)
            or _LONG_TOKEN.search(text) is not None)


def redact_argv(argv: list[str], field: str = "argv") -> tuple[list[str], list[Finding]]:
    """A command line with secrets replaced: known formats anywhere, and the value of an option
    whose name is secret-sounding (``--hf-token=X``, ``--password X``)."""
    out: list[str] = []
    findings: list[Finding] = []
    if not any(a.startswith("-") and _may_be_secret_name(a.partition("=")[0]) for a in argv) \
            and not _worth_loading("\n".join(argv)):
        return list(argv), findings
    secret_next = False
    for i, arg in enumerate(argv):
        where = f"{field}[{i}]"
        text, hits = _replace_formats(arg, where)
        if secret_next and not arg.startswith("-"):
            if not hits and _plain_value(arg):
                hits, text = [Finding(where, KEYWORD)], MARKER.format(KEYWORD)
            secret_next = False
        elif arg.startswith("-"):
            name, eq, value = arg.partition("=")
            secret_next = not eq and secret_name(name)
            if eq and not hits and secret_name(name) and _plain_value(value):
                hits, text = [Finding(where, KEYWORD)], f"{name}={MARKER.format(KEYWORD)}"
        findings.extend(hits)
        out.append(text)
    return out, findings


def _walk(value: Any, path: str, key: str, findings: list[Finding], *, redact: bool) -> Any:
    if isinstance(value, str):
        if _IDENTIFIER.fullmatch(value):
            return value
        text, hits = _replace_formats(value, path)
        if not hits and key and secret_name(key) and _plain_value(value):
            hits, text = [Finding(path, KEYWORD)], MARKER.format(KEYWORD)
        findings.extend(hits)
        return text
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            name = str(k)
            out[k] = _walk(v, f"{path}.{name}" if path else name, name, findings, redact=redact)
        return out if redact else value
    if isinstance(value, (list, tuple)):
        items = [_walk(v, f"{path}[{i}]", key, findings, redact=redact) for i, v in enumerate(value)]
        return (type(value)(items) if isinstance(value, tuple) else items) if redact else value
    return value


def _replace_formats(text: str, where: str) -> tuple[str, list[Finding]]:
    if len(text) < 8:
        return text, []
    findings = []
    for name, secret in _format_hits(text):
        findings.append(Finding(where, name))
        text = text.replace(secret, MARKER.format(name))
    return text, findings


# -- text: code patches, notes, text artifacts ---------------------------------------------------

def scan_text(text: str, where: str, filename: str = "") -> list[Finding]:
    """Suspected secrets in a text, one finding per line and detector (``where line N``)."""
    findings: list[Finding] = []
    seen: set[tuple[int, str]] = set()
    for name, secret in _format_hits(text):
        line = text.count("\n", 0, max(text.find(secret), 0)) + 1
        if (line, name) not in seen:
            seen.add((line, name))
            findings.append(Finding(f"{where} line {line}", name))
    keyword = _keyword()
    if keyword.search(text):
        for number, line_text in enumerate(text.splitlines(), 1):
            if keyword.search(line_text) and (number, KEYWORD) not in seen and _keyword_line(line_text, filename):
                seen.add((number, KEYWORD))
                findings.append(Finding(f"{where} line {number}", KEYWORD))
    return findings


def _keyword_line(line: str, filename: str) -> bool:
    """detect-secrets' keyword detector on one line, with its filters for references and templates."""
    from gitvault.secrets import patterns

    if len(line) > 1000 or patterns.is_indirect_reference(line):
        return False
    groups = patterns.REGEX_BY_FILETYPE.get(patterns.determine_file_type(filename)) if filename else None
    if groups is None:  # .env files, notes, unknown types: `name = value` and `name: value`
        groups = patterns.CONFIG_DENYLIST_REGEX_TO_GROUP
    for secret in patterns.keyword_secrets(line, groups):
        if _plain_value(secret.strip("'\"")):
            return True
    return False


def scan_patch(patch: str, where: str) -> list[Finding]:
    """Suspected secrets in the lines a code patch adds, by file (``where: path line N`` counts
    lines of the patch's added text for that file)."""
    findings: list[Finding] = []
    for path, added in _added_lines(patch).items():
        findings.extend(scan_text("\n".join(added), f"{where}: {path}", filename=path))
    return findings


def _added_lines(patch: str) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in patch.splitlines():
        if line.startswith("+++ "):
            path = line[4:].strip()
            path = path[2:] if path.startswith("b/") else path
            current = files.setdefault(path, [])
        elif line.startswith("+") and current is not None:
            current.append(line[1:])
        elif line.startswith("diff --git "):
            current = None
    return files
