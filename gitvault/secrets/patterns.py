"""The regexes and heuristics of the secret scanner, copied from detect-secrets 1.5.0.

Where from: detect-secrets 1.5.0 (https://github.com/Yelp/detect-secrets, Copyright 2017-2018 Yelp
Inc., Apache License 2.0; see ``NOTICE`` at the repository root, which also carries the MIT notices
of the parts detect-secrets took from bandit and pre-commit-hooks). Each group below names the
detect-secrets file it comes from. The regexes are copied unchanged and built the same way; the
functions behave the same, written without the classes around them (a file type is a ``FileType``
member's name here, the keyword detector's ``analyze_string`` is ``keyword_secrets``). Only what
``scan.py`` uses is here: the known-format detectors' ``denylist`` regexes and ``secret_type``
names, the keyword detector's regexes and matching loop, the file-type table that picks the keyword
regexes, and four heuristic filters. Left out: the plugin classes, network verification, settings,
baselines, the entropy detectors and everything else.

Why copied rather than depended on: detect-secrets requires ``requests`` (for its optional
verification, which gitvault never turned on) and ``pyyaml``, so depending on it put 7 packages into
the base install (detect-secrets, requests, urllib3, certifi, charset-normalizer, idna, PyYAML: 17
packages instead of 10; issue 24) and a network library into an install meant for air-gapped
training jobs that must never reach the network. The patterns are all gitvault ever used.

Refreshing from a newer release: ``pip download --no-deps detect-secrets==X`` (a wheel: unzip it in
a scratch directory), diff its ``plugins/{aws,azure_storage_key,basic_auth,discord,github_token,gitlab_token,jwt,
mailchimp,npm,openai,private_key,pypi_token,sendgrid,slack,square_oauth,stripe,telegram_token,
twilio,keyword}.py``, ``util/filetype.py`` and ``filters/heuristic.py`` against the version named
above, copy the changed patterns here, update the version in this docstring and in ``NOTICE``, and
check that ``scan.py``'s ``_HINTS`` (cheap substring prefilters) still hold for every format
(tests/test_secrets.py checks a sample of each). A new detector is added to ``FORMATS``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator

# -- known formats: (secret_type, denylist) of each RegexBasedDetector -----------------------

# detect_secrets/plugins/aws.py (AWSKeyDetector)
_AWS_SECRET_KEYWORD = r'(?:key|pwd|pw|password|pass|token)'
AWS = (
    re.compile(r'(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}'),
    # the variable name identifies an AWS secret key
    re.compile(
        r'aws.{{0,20}}?{secret_keyword}.{{0,20}}?[\'\"]([0-9a-zA-Z/+]{{40}})[\'\"]'.format(
            secret_keyword=_AWS_SECRET_KEYWORD,
        ),
        flags=re.IGNORECASE,
    ),
)

# detect_secrets/plugins/azure_storage_key.py (AzureStorageKeyDetector)
AZURE_STORAGE_KEY = (re.compile(r'AccountKey=[a-zA-Z0-9+\/=]{88}'),)

# detect_secrets/plugins/basic_auth.py (BasicAuthDetector): RFC 3986 section 2.2 delimiters
_RESERVED_CHARACTERS = ':/?#[]@'
_SUB_DELIMITER_CHARACTERS = '!$&\'()*+,;='
BASIC_AUTH = (
    re.compile(
        r'://[^{}\s]+:([^{}\s]+)@'.format(
            re.escape(_RESERVED_CHARACTERS + _SUB_DELIMITER_CHARACTERS),
            re.escape(_RESERVED_CHARACTERS + _SUB_DELIMITER_CHARACTERS),
        ),
    ),
)

# detect_secrets/plugins/discord.py (DiscordBotTokenDetector)
DISCORD = (re.compile(r'[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}'),)

# detect_secrets/plugins/github_token.py (GitHubTokenDetector)
GITHUB = (re.compile(r'(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36}'),)

# detect_secrets/plugins/gitlab_token.py (GitLabTokenDetector)
GITLAB = (
    re.compile(r'(glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_\-]{20,50}(?!\w)'),  # personal, deploy, feed, OAuth, runner
    re.compile(r'GR1348941[A-Za-z0-9_\-]{20,50}(?!\w)'),  # runner registration
    re.compile(r'glcbt-([0-9a-fA-F]{2}_)?[A-Za-z0-9_\-]{20,50}(?!\w)'),  # CI/CD
    re.compile(r'glimt-[A-Za-z0-9_\-]{25}(?!\w)'),  # incoming mail
    re.compile(r'glptt-[A-Za-z0-9_\-]{40}(?!\w)'),  # trigger
    re.compile(r'glagent-[A-Za-z0-9_\-]{50,1024}(?!\w)'),  # agent
    re.compile(r'gloas-[A-Za-z0-9_\-]{64}(?!\w)'),  # OAuth application secret
)

# detect_secrets/plugins/jwt.py (JwtTokenDetector; only its denylist: scan.py never used its
# is_formally_valid check)
JWT = (re.compile(r'eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*?'),)

# detect_secrets/plugins/mailchimp.py (MailchimpDetector)
MAILCHIMP = (re.compile(r'[0-9a-z]{32}-us[0-9]{1,2}'),)

# detect_secrets/plugins/npm.py (NpmDetector)
NPM = (re.compile(r'\/\/.+\/:_authToken=\s*((npm_.+)|([A-Fa-f0-9-]{36})).*'),)

# detect_secrets/plugins/openai.py (OpenAIDetector)
OPENAI = (re.compile(r'sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}'),)

# detect_secrets/plugins/private_key.py (PrivateKeyDetector; detect-secrets took it in part from
# pre-commit-hooks, MIT, see NOTICE)
PRIVATE_KEY = tuple(
    re.compile(regexp)
    for regexp in (
        r'BEGIN DSA PRIVATE KEY',
        r'BEGIN EC PRIVATE KEY',
        r'BEGIN OPENSSH PRIVATE KEY',
        r'BEGIN PGP PRIVATE KEY BLOCK',
        r'BEGIN PRIVATE KEY',
        r'BEGIN RSA PRIVATE KEY',
        r'BEGIN SSH2 ENCRYPTED PRIVATE KEY',
        r'PuTTY-User-Key-File-2',
    )
)

# detect_secrets/plugins/pypi_token.py (PypiTokenDetector)
PYPI = (
    re.compile(r'pypi-AgEIcHlwaS5vcmc[A-Za-z0-9-_]{70,}'),  # pypi.org
    re.compile(r'pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9-_]{70,}'),  # test.pypi.org
)

# detect_secrets/plugins/sendgrid.py (SendGridDetector)
SENDGRID = (re.compile(r'SG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}'),)

# detect_secrets/plugins/slack.py (SlackDetector)
SLACK = (
    re.compile(r'xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+', flags=re.IGNORECASE),  # token
    re.compile(  # webhook
        r'https://hooks\.slack\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+',
        flags=re.IGNORECASE | re.VERBOSE,
    ),
)

# detect_secrets/plugins/square_oauth.py (SquareOAuthDetector)
SQUARE_OAUTH = (re.compile(r'sq0csp-[0-9A-Za-z\\\-_]{43}'),)

# detect_secrets/plugins/stripe.py (StripeDetector)
STRIPE = (re.compile(r'(?:r|s)k_live_[0-9a-zA-Z]{24}'),)

# detect_secrets/plugins/telegram_token.py (TelegramBotTokenDetector)
TELEGRAM = (re.compile(r'\d{8,10}:[0-9A-Za-z_-]{35}'),)

# detect_secrets/plugins/twilio.py (TwilioKeyDetector)
TWILIO = (
    re.compile(r'AC[a-z0-9]{32}'),  # account SID
    re.compile(r'SK[a-z0-9]{32}'),  # auth token
)

FORMATS: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = (
    ("AWS Access Key", AWS),
    ("Azure Storage Account access key", AZURE_STORAGE_KEY),
    ("Basic Auth Credentials", BASIC_AUTH),
    ("Discord Bot Token", DISCORD),
    ("GitHub Token", GITHUB),
    ("GitLab Token", GITLAB),
    ("JSON Web Token", JWT),
    ("Mailchimp Access Key", MAILCHIMP),
    ("NPM tokens", NPM),
    ("OpenAI Token", OPENAI),
    ("Private Key", PRIVATE_KEY),
    ("PyPI Token", PYPI),
    ("SendGrid API Key", SENDGRID),
    ("Slack Token", SLACK),
    ("Square OAuth Secret", SQUARE_OAUTH),
    ("Stripe Access Key", STRIPE),
    ("Telegram Bot Token", TELEGRAM),
    ("Twilio API Key", TWILIO),
)
"""(secret_type, denylist) of each known-format detector, in detect-secrets' names."""


# -- keywords: detect_secrets/plugins/keyword.py (KeywordDetector; detect-secrets took it in part
# from bandit, MIT, see NOTICE) ---------------------------------------------------------------

# Note: All values here should be lowercase
DENYLIST = (
    'api_?key',
    'auth_?key',
    'service_?key',
    'account_?key',
    'db_?key',
    'database_?key',
    'priv_?key',
    'private_?key',
    'client_?key',
    'db_?pass',
    'database_?pass',
    'key_?pass',
    'password',
    'passwd',
    'pwd',
    'secret',
    'contraseña',
    'contrasena',
)
# Includes ], ', " as closing
CLOSING = r'[]\'"]{0,2}'
AFFIX_REGEX = r'\w*'
DENYLIST_REGEX = r'|'.join(DENYLIST)
# Support for suffix after keyword i.e. password_secure = "value"
DENYLIST_REGEX = r'({denylist}){suffix}'.format(
    denylist=DENYLIST_REGEX,
    suffix=AFFIX_REGEX,
)
# Support for prefix and suffix with keyword, needed for reverse comparisons
# i.e. if ("value" == my_password_secure) {}
DENYLIST_REGEX_WITH_PREFIX = r'{prefix}{denylist}'.format(
    prefix=AFFIX_REGEX,
    denylist=DENYLIST_REGEX,
)
# Non-greedy match
OPTIONAL_WHITESPACE = r'\s*'
OPTIONAL_NON_WHITESPACE = r'[^\s]{0,50}?'
QUOTE = r'[\'"`]'
# Secret regex details:
#   (?=[^\v\'"]*)   ->  this section match with every character except line breaks and quotes. This
#                       allows to find secrets that starts with symbols or alphanumeric characters.
#
#   (?=\w+)     ->  this section match only with words (letters, numbers or _ are allowed), and at
#                   least one character is required. This allows to reduce the false positives
#                   number.
#
#   [^\v\'"]*   ->  this section match with every character except line breaks and quotes. This
#                   allows to find secrets with symbols at the end.
#
#   [^\v,\'"`]  ->  this section match with the last secret character that can be everything except
#                   line breaks, comma, backticks or quotes. This allows to reduce the false
#                   positives number and to prevent errors in the code snippet highlighting.
SECRET = r'(?=[^\v\'\"]*)(?=\w+)[^\v\'\"]*[^\v,\'\"`]'
SQUARE_BRACKETS = r'(\[[0-9]*\])'


def _keyword_regex(template: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """One keyword regex: detect-secrets fills each template in with ``str.format`` from the parts
    above; here they share this one call (``prefixed_denylist`` is its ``DENYLIST_REGEX_WITH_PREFIX``,
    ``non_whitespace`` its ``OPTIONAL_NON_WHITESPACE``; ``whitespace`` is ``OPTIONAL_WHITESPACE`` in
    every template)."""
    return re.compile(
        template.format(
            denylist=DENYLIST_REGEX,
            prefixed_denylist=DENYLIST_REGEX_WITH_PREFIX,
            closing=CLOSING,
            quote=QUOTE,
            whitespace=OPTIONAL_WHITESPACE,
            non_whitespace=OPTIONAL_NON_WHITESPACE,
            square_brackets=SQUARE_BRACKETS,
            secret=SECRET,
        ),
        flags=flags,
    )


# e.g. my_password := "bar" or my_password := bar
FOLLOWED_BY_COLON_EQUAL_SIGNS_REGEX = _keyword_regex(r'{denylist}({closing})?{whitespace}:={whitespace}({quote}?)({secret})(\3)')
# e.g. api_key: foo
FOLLOWED_BY_COLON_REGEX = _keyword_regex(r'{denylist}({closing})?:{whitespace}({quote}?)({secret})(\3)')
# e.g. api_key: "foo"
FOLLOWED_BY_COLON_QUOTES_REQUIRED_REGEX = _keyword_regex(r'{denylist}({closing})?:({whitespace})({quote})({secret})(\4)')
# e.g. my_password = "bar"
# e.g. my_password = @"bar"
# e.g. my_password[] = "bar";
# e.g. char my_password[25] = "bar";
FOLLOWED_BY_EQUAL_SIGNS_OPTIONAL_BRACKETS_OPTIONAL_AT_SIGN_QUOTES_REQUIRED_REGEX = _keyword_regex(
    r'{denylist}({square_brackets})?{whitespace}[!=]{{1,2}}{whitespace}(@)?(")({secret})(\5)')
# e.g. std::string secret("bar");
# e.g. secret.assign("bar",17);
FOLLOWED_BY_OPTIONAL_ASSIGN_QUOTES_REQUIRED_REGEX = _keyword_regex(r'{denylist}(.assign)?\((")({secret})(\3)', flags=0)
# e.g. my_password = bar
# e.g. my_password == "bar" or my_password != "bar" or my_password === "bar"
# or my_password !== "bar"
# e.g. my_password == 'bar' or my_password != 'bar' or my_password === 'bar'
# or my_password !== 'bar'
FOLLOWED_BY_EQUAL_SIGNS_REGEX = _keyword_regex(r'{denylist}({closing})?{whitespace}(={{1,3}}|!==?){whitespace}({quote}?)({secret})(\4)')
# the same, quotes required
FOLLOWED_BY_EQUAL_SIGNS_QUOTES_REQUIRED_REGEX = _keyword_regex(r'{denylist}({closing})?{whitespace}(={{1,3}}|!==?){whitespace}({quote})({secret})(\4)')
# e.g. "bar" == my_password or "bar" != my_password or "bar" === my_password
# or "bar" !== my_password
# e.g. 'bar' == my_password or 'bar' != my_password or 'bar' === my_password
# or 'bar' !== my_password
PRECEDED_BY_EQUAL_COMPARISON_SIGNS_QUOTES_REQUIRED_REGEX = _keyword_regex(r'({quote})({secret})(\1){whitespace}[!=]{{2,3}}{whitespace}{prefixed_denylist}', flags=0)
# e.g. private_key "something";
FOLLOWED_BY_QUOTES_AND_SEMICOLON_REGEX = _keyword_regex(r'{denylist}{non_whitespace}{whitespace}({quote})({secret})(\2);')
# e.g. my_password => "bar" or my_password => bar
FOLLOWED_BY_ARROW_FUNCTION_SIGN_QUOTES_REQUIRED_REGEX = _keyword_regex(r'{denylist}({closing})?{whitespace}=>?{whitespace}({quote})({secret})(\3)')

# each regex with the number of the group holding the secret
CONFIG_DENYLIST_REGEX_TO_GROUP: dict[re.Pattern[str], int] = {
    FOLLOWED_BY_COLON_REGEX: 4,
    PRECEDED_BY_EQUAL_COMPARISON_SIGNS_QUOTES_REQUIRED_REGEX: 2,
    FOLLOWED_BY_EQUAL_SIGNS_REGEX: 5,
    FOLLOWED_BY_QUOTES_AND_SEMICOLON_REGEX: 3,
}
GOLANG_DENYLIST_REGEX_TO_GROUP: dict[re.Pattern[str], int] = {
    FOLLOWED_BY_COLON_EQUAL_SIGNS_REGEX: 4,
    PRECEDED_BY_EQUAL_COMPARISON_SIGNS_QUOTES_REQUIRED_REGEX: 2,
    FOLLOWED_BY_EQUAL_SIGNS_REGEX: 5,
    FOLLOWED_BY_QUOTES_AND_SEMICOLON_REGEX: 3,
}
COMMON_C_DENYLIST_REGEX_TO_GROUP: dict[re.Pattern[str], int] = {
    FOLLOWED_BY_EQUAL_SIGNS_OPTIONAL_BRACKETS_OPTIONAL_AT_SIGN_QUOTES_REQUIRED_REGEX: 6,
}
C_PLUS_PLUS_REGEX_TO_GROUP: dict[re.Pattern[str], int] = {
    FOLLOWED_BY_OPTIONAL_ASSIGN_QUOTES_REQUIRED_REGEX: 4,
    FOLLOWED_BY_EQUAL_SIGNS_QUOTES_REQUIRED_REGEX: 5,
}
QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP: dict[re.Pattern[str], int] = {
    FOLLOWED_BY_COLON_QUOTES_REQUIRED_REGEX: 5,
    PRECEDED_BY_EQUAL_COMPARISON_SIGNS_QUOTES_REQUIRED_REGEX: 2,
    FOLLOWED_BY_EQUAL_SIGNS_QUOTES_REQUIRED_REGEX: 5,
    FOLLOWED_BY_QUOTES_AND_SEMICOLON_REGEX: 3,
    FOLLOWED_BY_ARROW_FUNCTION_SIGN_QUOTES_REQUIRED_REGEX: 4,
}
# keyed by detect-secrets' FileType member names (see determine_file_type below)
REGEX_BY_FILETYPE: dict[str, dict[re.Pattern[str], int]] = {
    "GO": GOLANG_DENYLIST_REGEX_TO_GROUP,
    "OBJECTIVE_C": COMMON_C_DENYLIST_REGEX_TO_GROUP,
    "C_SHARP": COMMON_C_DENYLIST_REGEX_TO_GROUP,
    "C": COMMON_C_DENYLIST_REGEX_TO_GROUP,
    "C_PLUS_PLUS": C_PLUS_PLUS_REGEX_TO_GROUP,
    "CLS": QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    "JAVA": QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    "JAVASCRIPT": QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    "PYTHON": QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    "SWIFT": QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    "TERRAFORM": QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    "YAML": CONFIG_DENYLIST_REGEX_TO_GROUP,
    "CONFIG": CONFIG_DENYLIST_REGEX_TO_GROUP,
    "INI": CONFIG_DENYLIST_REGEX_TO_GROUP,
    "PROPERTIES": CONFIG_DENYLIST_REGEX_TO_GROUP,
    "TOML": CONFIG_DENYLIST_REGEX_TO_GROUP,
}


def keyword_secrets(line: str, denylist_regex_to_group: dict[re.Pattern[str], int]) -> Iterator[str]:
    """The value each keyword regex finds in ``line`` (its first match): what
    ``KeywordDetector().analyze_string(line, denylist_regex_to_group=...)`` yields."""
    for denylist_regex, group_number in denylist_regex_to_group.items():
        match = denylist_regex.search(line)
        if match:
            yield match.group(group_number)


# -- file types: detect_secrets/util/filetype.py -----------------------------------------------

_FILE_TYPE_BY_EXTENSION = {
    '.cls': "CLS",
    '.example': "EXAMPLE",
    '.eyaml': "YAML",
    '.go': "GO",
    '.java': "JAVA",
    '.js': "JAVASCRIPT",
    '.m': "OBJECTIVE_C",
    '.php': "PHP",
    '.py': "PYTHON",
    '.pyi': "PYTHON",
    '.swift': "SWIFT",
    '.tf': "TERRAFORM",
    '.yaml': "YAML",
    '.yml': "YAML",
    '.cs': "C_SHARP",
    '.c': "C",
    '.cpp': "C_PLUS_PLUS",
    '.cnf': "CONFIG",
    '.conf': "CONFIG",
    '.cfg': "CONFIG",
    '.cf': "CONFIG",
    '.ini': "INI",
    '.properties': "PROPERTIES",
    '.toml': "TOML",
}


def determine_file_type(filename: str) -> str:
    """The name of detect-secrets' ``FileType`` for a file name's extension (``OTHER`` if none)."""
    _, file_extension = os.path.splitext(filename)
    return _FILE_TYPE_BY_EXTENSION.get(file_extension, "OTHER")


# -- heuristic filters: detect_secrets/filters/heuristic.py -------------------------------------

_SEQUENCES = (
    # Base64 letters first
    string.ascii_uppercase + string.ascii_uppercase + string.digits + '+/',
    # Base64 numbers first
    string.digits + string.ascii_uppercase + string.ascii_uppercase + '+/',
    # We don't have a specific sequence for alphabetical sequences, since those will happen
    # to be caught by the base64 checks.
    # Alphanumeric sequences
    (string.digits + string.ascii_uppercase) * 2,
    # Capturing any number sequences
    string.digits * 2,
    string.hexdigits.upper() + string.hexdigits.upper(),
    string.ascii_uppercase + '=/',
)


def is_sequential_string(secret: str) -> bool:
    """A run of a well-known sequence (``ABCDEF``, ``123456``, ``0123456789ABCDEF``)."""
    uppercase = secret.upper()
    return any(uppercase in sequential_string for sequential_string in _SEQUENCES)


def is_templated_secret(secret: str) -> bool:
    """Filters secrets that are shaped like: {secret}, <secret>, or ${secret}."""
    try:
        if (
            (secret[0] == '{' and secret[-1] == '}')
            or (secret[0] == '<' and secret[-1] == '>')
            or (secret[0] == '$' and secret[1] == '{' and secret[-1] == '}')
        ):
            return True
    except IndexError:
        # Any one character secret (that causes this to raise an IndexError) is highly
        # likely to be a false positive (or if a true positive, INCREDIBLY weak password).
        return True
    return False


def is_prefixed_with_dollar_sign(secret: str) -> bool:
    """A value starting with ``$``: a reference to a variable."""
    return bool(secret) and secret[0] == '$'


# Regex details:
#   ([^\v=!:]*)     ->  Something before the assignment or comparison
#   \s*             ->  Some optional whitespaces
#   (:=?|[!=]{1,3}) ->  Assignment or comparison: :=, =, ==, ===, !=, !==
#   \s*             ->  Some optional whitespaces
#   (
#       [\w.-]+     ->  Some alphanumeric character, dot or -
#       [\[\(]      ->  Start of indirect reference: [ or (
#       [^\v]*      ->  Something except line breaks
#       [\]\)]      ->  End of indirect reference: ] or )
#   )
_INDIRECT_REFERENCE = re.compile(r'([^\v=!:]*)\s*(:=?|[!=]{1,3})\s*([\w.-]+[\[\(][^\v]*[\]\)])')


def is_indirect_reference(line: str) -> bool:
    """Filters secrets that take the form of ``secret = get_secret_key()`` or
    ``secret = request.headers['apikey']``."""
    # Constrain line length as the heuristic's intention is to target lines that resemble
    # function calls. The constraint avoids catastrophic backtracking failures of the regex.
    if len(line) > 1000:
        return False
    return bool(_INDIRECT_REFERENCE.search(line))
