"""The singer-sdk standard target tests that fit an API target (singer-meltano.md §2.6).

The rest of the SDK suite pipes generic streams (`test_array_data`, `TestCamelcase`...) that an
API target with fixed endpoints must refuse; our own `.singer` fixtures cover the domain.
"""

from __future__ import annotations

from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetCliPrintsTest,
    TargetInvalidSchemaTest,
    TargetRecordBeforeSchemaTest,
)

from target_fiken.target import TargetFiken

SDK_SUITE = SingerTestSuite(
    kind="target",
    tests=[TargetCliPrintsTest, TargetInvalidSchemaTest, TargetRecordBeforeSchemaTest],
)

# None of these tests reaches Fiken: they stop before the first sink is set up.
CONFIG = {
    "company_slug": "demo-as",
    "base_url": "http://127.0.0.1:9/api/v2",
    "access_token": "not-used",
}

TestTargetFikenSdk = get_target_test_class(
    TargetFiken, config=CONFIG, custom_suites=[SDK_SUITE], include_target_tests=False
)
