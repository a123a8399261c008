"""Fake secrets in the documented formats of real credentials, generated afresh by hypothesis for each run."""

from __future__ import annotations

import string

from hypothesis import strategies as st

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
URLSAFE = ALNUM + "-_"


def _chars(alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=size, max_size=size if max_size is None else max_size)


def _prefixed(prefix: str, alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return _chars(alphabet, size, max_size).map(lambda body: prefix + body)


# kind → a strategy for one secret of that format; the secret text is what must never be stored or shown
SECRETS: dict[str, st.SearchStrategy[str]] = {
    "anthropic-key": _prefixed("sk-ant-api03-", URLSAFE, 93),
    "openai-key": st.one_of(_prefixed("sk-proj-", URLSAFE, 48, 156), _prefixed("sk-", ALNUM, 48)),
    "stripe-key": st.sampled_from(["sk_live_", "sk_test_", "rk_live_"]).flatmap(lambda p: _prefixed(p, ALNUM, 24, 99)),
    "github-token": st.one_of(
        st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]).flatmap(lambda p: _prefixed(p, ALNUM, 36)),
        _prefixed("github_pat_", ALNUM + "_", 82),
    ),
    "gitlab-token": _prefixed("glpat-", URLSAFE, 20),
    "aws-key": st.sampled_from(["AKIA", "ASIA"]).flatmap(lambda p: _prefixed(p, UPPER_ALNUM, 16)),
    "google-key": _prefixed("AIza", URLSAFE, 35),
    "slack-token": st.sampled_from(["xoxb-", "xoxp-", "xoxa-"]).flatmap(lambda p: _prefixed(p, ALNUM + "-", 24, 60)),
    "npm-token": _prefixed("npm_", ALNUM, 36),
    "huggingface-token": _prefixed("hf_", ALNUM, 34),
    "jwt": st.tuples(_chars(URLSAFE, 20, 40), _chars(URLSAFE, 20, 80), _chars(URLSAFE, 43)).map(
        lambda parts: f"eyJ{parts[0]}.eyJ{parts[1]}.{parts[2]}"
    ),
}

# Formats whose secret is a part of a larger text: (kind, strategy of (text, secret))
_PASSWORD = _chars(ALNUM + "!%^*+", 8, 24)
WRAPPED: dict[str, st.SearchStrategy[tuple[str, str]]] = {
    "private-key": _chars(ALNUM + "+/", 64, 200).map(
        lambda body: (f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----", body)
    ),
    "url-password": _PASSWORD.map(lambda secret: (f"postgres://admin:{secret}@db.internal:5432/prod", secret)),
    "bearer-token": _chars(URLSAFE + ".", 24, 64).map(lambda secret: (f"Authorization: Bearer {secret}", secret)),
    "secret-value": st.tuples(
        st.sampled_from(["DB_PASSWORD", "API_KEY", "SECRET_TOKEN", "aws_secret_access_key"]), _PASSWORD
    ).map(lambda pair: (f"{pair[0]}={pair[1]}", pair[1])),
}


def any_secret() -> st.SearchStrategy[tuple[str, str, str]]:
    """(kind, text holding the secret, the secret itself)."""
    plain = [strategy.map(lambda secret, kind=kind: (kind, secret, secret)) for kind, strategy in SECRETS.items()]
    wrapped = [strategy.map(lambda pair, kind=kind: (kind, *pair)) for kind, strategy in WRAPPED.items()]
    return st.one_of(*plain, *wrapped)
