"""Singer sinks: thin adapters from singer-sdk's record loop to the booking engine.

`RecordSink`, not `BatchSink`: each record is booked (ledger committed) or rejected (rejects file
fsynced) before the SDK reads the next message, so when `drain_all` emits the tap's latest STATE,
every record before it already has its outcome.

Validation: the SDK's own validator raises (or only logs) with jsonschema messages that quote the
offending value. Ours never raises; it keeps the violations of the record in hand (field names,
no values), and the record becomes a reject naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import RecordSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_fiken.validation import FieldError, RecordValidator

if TYPE_CHECKING:
    from target_fiken.target import TargetFiken


class ContractValidator(BaseJSONSchemaValidator):
    """Validates against the Moment contract schema and keeps the violations; never raises."""

    def __init__(self, stream: str, schema: dict[str, Any]) -> None:
        self.inner = RecordValidator(stream)
        super().__init__(schema)
        self.last_errors: list[FieldError] = []

    def validate(self, record: dict[str, Any]) -> None:
        """Remember this record's violations (read by `process_record`)."""
        self.last_errors = self.inner.errors(record)


class FikenSink(RecordSink):
    """One sink per stream; the booking itself is the target's `Engine`."""

    # Our validator never raises; invalid records become rejects, not a crashed run.
    fail_on_record_validation_exception = False

    def __init__(self, target: TargetFiken, *args: Any, **kwargs: Any) -> None:
        self.fiken_target = target
        super().__init__(target, *args, **kwargs)

    @property
    def datetime_error_treatment(self) -> DatetimeErrorTreatmentEnum:
        """A bad date becomes None here; the validator has already named it, so it is rejected."""
        return DatetimeErrorTreatmentEnum.NULL

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """Always validate against the contract (accounting data: `validate_records` is ignored)."""
        return ContractValidator(self.stream_name, self.schema)

    def setup(self) -> None:
        """Run preflight before the first record of the first stream reaches Fiken."""
        super().setup()
        self.fiken_target.stream_started(self.stream_name)

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Book the record (or reject it) before the next message is read."""
        validator = self._validator
        errors = validator.last_errors if isinstance(validator, ContractValidator) else []
        self.fiken_target.book(self.stream_name, record, errors)

    def clean_up(self) -> None:
        """Base clean-up (closes the SDK's record counter)."""
        super().clean_up()
