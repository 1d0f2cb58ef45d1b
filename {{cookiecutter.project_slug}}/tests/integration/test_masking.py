"""`mask_secrets`, one credential shape at a time: what drivers, HTTP clients and key files put
into error text. Every secret here is built at run time, so no credential-like literal sits in the
repository for the secret scanners to flag."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import (
    SQLMeshIntegrationError,
    first_line,
    mask_secrets,
)

SECRET = "".join(["s3cr", "etV4", "lue9", "Zq"])  # what must never survive
HEX = "".join(["0123456789abcdef"] * 2)
BASE64_KEY = "MII" + "".join(["EvQIBADANBgkqhkiG9w0BAQEFAASC"] * 3)
PEM_BEGIN, PEM_END = "-----BEGIN " + "PRIVATE KEY-----", "-----END " + "PRIVATE KEY-----"
JWT = ".".join(["eyJ" + "hbGciOiJIUzI1NiJ9", "eyJ" + "zdWIiOiJzZXJ2aWNlIn0", SECRET])

# (shape, text carrying a secret, what must remain of it)
SHAPES = [
    ("setting", f"host=db password={SECRET} dbname=x", "host=db password=*** dbname=x"),
    ("quoted setting", f"password='{SECRET}'", "password=***"),
    ("json", '{"access_token": "' + SECRET + '"}', '{"access_token": ***}'),
    # (Split, or the secret scanners see a URL with a password.)
    (
        "url password",
        "postgresql://app" + ":" + SECRET + "@db:5432/x",
        "postgresql://app" + ":***@db:5432/x",
    ),
    (
        "query string",
        f"md:analytics?motherduck_token={SECRET}&x=1",
        "md:analytics?motherduck_token=***&x=1",
    ),
    ("bearer", f"Authorization: Bearer {SECRET}{SECRET}", "Authorization: Bearer ***"),
    ("bearer lower case", f"authorization: bearer {SECRET}{SECRET}==", "authorization: bearer ***"),
    ("aws secret key", f"aws_secret_access_key = {SECRET}", "aws_secret_access_key = ***"),
    ("aws json", '"SecretAccessKey": "' + SECRET + '"', '"SecretAccessKey": ***'),
    ("api key header", f"x-api-key: {SECRET}", "x-api-key: ***"),
    ("api key header, capitals", f"X-Api-Key:{SECRET}", "X-Api-Key:***"),
    ("databricks token", f"token dapi{HEX} refused", "token *** refused"),
    ("databricks token with suffix", f"dapi{HEX}-2 refused", "*** refused"),
    (
        "pem block",
        f"key {PEM_BEGIN}\n{BASE64_KEY}\n{SECRET}\n{PEM_END} end",
        "key *** end",
    ),
    ("pem block cut short", f"bad key: {PEM_BEGIN}\n{BASE64_KEY}{SECRET}", "bad key: ***"),
    ("der key in base64", f"SNOWFLAKE key {BASE64_KEY}{SECRET}", "SNOWFLAKE key ***"),
    ("jwt (MotherDuck token)", f"md:?token {JWT} rejected", "md:?token *** rejected"),
    ("github token", "ghp_" + SECRET * 3 + " expired", "*** expired"),
]


@pytest.mark.parametrize(("text", "masked"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_each_credential_shape_is_masked(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked
    assert SECRET not in mask_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        "password authentication failed for user app",
        "Bearer tokens are refused: use OAuth",
        "column api_key_hint is not unique",
        "3 rows failed the accepted_range audit",
    ],
)
def test_prose_that_only_mentions_a_credential_stays(text: str) -> None:
    assert mask_secrets(text) == text


def test_errors_and_first_lines_are_masked() -> None:
    text = " ".join(shape[1].replace("\n", " ") for shape in SHAPES)
    assert SECRET not in str(SQLMeshIntegrationError(text))
    assert SECRET not in first_line(RuntimeError(text))
