"""The price book of SPEC §1 and §3 as tests, for any store (one fixture: ``store``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from aigov import (
    Actor,
    AmountOutOfRangeError,
    ConflictError,
    ForbiddenError,
    Governance,
    InvalidInputError,
    NotFoundError,
    SiteRole,
)
from aigov import pricebook_seed as embedded
from aigov.money import MAX_MICROS
from aigov_contracts._fixtures import GovernanceFixtures
from aigov_contracts.clock import ManualClock

__all__ = ["PriceBookContract"]

SYSTEM = Actor.system()


def row(provider: str = "openai", model: str = "gpt-x", *prices: int | None) -> dict[str, Any]:
    values = prices or (3_000_000, 15_000_000, None, 0)
    keys = ("input_price", "output_price", "cache_read_price", "cache_write_price")
    return {"provider": provider, "model": model, **dict(zip(keys, values, strict=True))}


CUSTOM = {"input_price": 1, "output_price": 2, "cache_read_price": None, "cache_write_price": 0}


class PriceBookContract(GovernanceFixtures):
    """Prices, the seed upsert and custom prices behave as SPEC §1 and §3 say."""

    # -- §3.2 the seed upsert --------------------------------------------------------------------

    def test_a_seed_inserts_new_models_stamped_now(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        """New rows get created_at = updated_at = now, source pricebook, prices as given."""
        result = gov.apply_price_book([row("openai", "a"), row("anthropic", "b")])
        assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
        assert result.inserted_keys == (("anthropic", "b"), ("openai", "a"))
        price = gov.get_model_price("openai", "a")
        assert price is not None
        assert (price.source, price.created_at, price.updated_at) == ("pricebook", clock(), clock())
        assert (price.input_price, price.cache_read_price, price.cache_write_price) == (
            3_000_000,
            None,
            0,
        )

    def test_applying_the_same_seed_again_changes_nothing(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        """Idempotent: the second application rewrites nothing and keeps updated_at."""
        seed = [row("openai", "a"), row("openai", "b")]
        gov.apply_price_book(seed)
        before = gov.list_model_prices(source="all")
        clock.advance(timedelta(hours=1))
        result = gov.apply_price_book(seed)
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, 2)
        assert (result.inserted_keys, result.updated_keys) == ((), ())
        assert gov.list_model_prices(source="all") == before

    def test_a_changed_price_rewrites_only_that_row(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        """A row is rewritten only if a price differs; then updated_at = now, created_at stays."""
        gov.apply_price_book([row("openai", "a"), row("openai", "b")])
        created = clock()
        clock.advance(timedelta(days=1))
        changed = row("openai", "b", 3_000_000, 15_000_000, None, 1)
        result = gov.apply_price_book([row("openai", "a"), changed])
        assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
        assert result.updated_keys == (("openai", "b"),)
        a, b = gov.list_model_prices(provider="openai")
        assert (a.updated_at, b.created_at, b.updated_at) == (created, created, clock())
        assert b.cache_write_price == 1

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ((None, 0, 0, 0), (0, 0, 0, 0)),
            ((0, 0, 0, 0), (None, 0, 0, 0)),
            ((5, 0, 0, 0), (None, 0, 0, 0)),
            ((None, None, None, None), (None, None, None, 0)),
        ],
        ids=["null-to-zero", "zero-to-null", "value-to-null", "last-price"],
    )
    def test_null_and_zero_are_different_prices(
        self, gov: Governance, old: tuple[int | None, ...], new: tuple[int | None, ...]
    ) -> None:
        """NULL (unknown) vs 0 (free) and NULL vs a value count as differences (SPEC §1)."""
        gov.apply_price_book([row("p", "m", *old)])
        assert gov.apply_price_book([row("p", "m", *new)]).updated == 1
        price = gov.get_model_price("p", "m")
        assert price is not None
        assert (
            price.input_price,
            price.output_price,
            price.cache_read_price,
            price.cache_write_price,
        ) == new

    def test_models_absent_from_a_seed_are_left_alone(self, gov: Governance) -> None:
        gov.apply_price_book([row("openai", "old"), row("openai", "kept")])
        before = gov.get_model_price("openai", "old")
        result = gov.apply_price_book([row("openai", "kept")])
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, 1)
        assert gov.get_model_price("openai", "old") == before

    def test_a_seed_never_touches_custom_prices(self, gov: Governance) -> None:
        """Custom rows are separate rows; a seed neither overwrites nor counts them."""
        custom = gov.set_custom_price(SYSTEM, "openai", "a", **CUSTOM)
        result = gov.apply_price_book([row("openai", "a")])
        assert (result.inserted, result.updated, result.unchanged) == (1, 0, 0)
        assert gov.get_model_price("openai", "a") == custom
        assert [p.source for p in gov.list_model_prices(source="all")] == ["custom", "pricebook"]

    def test_seeds_come_as_json_text_bytes_or_dicts(self, gov: Governance) -> None:
        seed = [row("p", "text"), row("p", "bytes"), row("p", "dicts")]
        assert gov.apply_price_book(json.dumps(seed[:1])).inserted == 1
        assert gov.apply_price_book(json.dumps(seed[1:2]).encode()).inserted == 1
        assert gov.apply_price_book(seed[2:]).inserted == 1
        assert gov.apply_price_book("[]").model_dump() == {
            "inserted": 0,
            "updated": 0,
            "unchanged": 0,
            "inserted_keys": (),
            "updated_keys": (),
        }

    def test_the_embedded_seed_is_applied_by_default(self, gov: Governance) -> None:
        assert gov.apply_price_book().inserted == embedded.MODEL_COUNT
        assert gov.apply_price_book().unchanged == embedded.MODEL_COUNT
        providers = {p.provider for p in gov.list_model_prices()}
        assert providers == set(embedded.PROVIDERS)

    @pytest.mark.parametrize(
        ("element", "error", "field"),
        [
            ({**row(), "input_price": 1.0}, InvalidInputError, "input_price"),
            ({**row(), "input_price": 1e3}, InvalidInputError, "input_price"),
            ({**row(), "input_price": True}, InvalidInputError, "input_price"),
            ({**row(), "input_price": "5"}, InvalidInputError, "input_price"),
            ({**row(), "output_price": -1}, AmountOutOfRangeError, "output_price"),
            ({**row(), "cache_read_price": 2**63}, AmountOutOfRangeError, "cache_read_price"),
            ({**row(), "provider": ""}, InvalidInputError, "provider"),
            ({**row(), "model": ""}, InvalidInputError, "model"),
            ({**row(), "model": "m" * 256}, InvalidInputError, "model"),
            ({**row(), "unknown": 1}, InvalidInputError, "unknown"),
            (
                {k: v for k, v in row().items() if k != "cache_write_price"},
                InvalidInputError,
                "cache_write_price",
            ),
            (5, InvalidInputError, None),
        ],
        ids=[
            "float",
            "exponent",
            "bool",
            "string",
            "negative",
            "2**63",
            "empty-provider",
            "empty-model",
            "long-model",
            "unknown-key",
            "missing-key",
            "not-an-object",
        ],
    )
    def test_a_bad_element_rejects_the_whole_batch(
        self, gov: Governance, element: Any, error: type[Exception], field: str | None
    ) -> None:
        """The typed error names the element index and field, and nothing changes."""
        gov.apply_price_book([row("keep", "me")])
        before = gov.list_model_prices(source="all")
        with pytest.raises(error) as raised:
            gov.apply_price_book([row("new", "one"), row("keep", "me", 9, 9, 9, 9), element])
        assert "element 2" in str(raised.value)
        if field is not None:
            assert field in str(raised.value)
        assert gov.list_model_prices(source="all") == before

    @pytest.mark.parametrize(
        "seed",
        ["[{", '{"provider": "p"}', "null", "", b"\xff"],
        ids=["malformed", "object", "null", "empty", "not-utf8"],
    )
    def test_a_seed_that_is_not_a_json_array_is_invalid(self, gov: Governance, seed: Any) -> None:
        with pytest.raises(InvalidInputError):
            gov.apply_price_book(seed)
        assert gov.list_model_prices(source="all") == []

    def test_an_element_with_a_repeated_key_is_invalid(self, gov: Governance) -> None:
        """JSON would silently keep the last value; a seed refuses it."""
        text = json.dumps([row()])[:-2] + ', "input_price": 9}]'
        with pytest.raises(InvalidInputError):
            gov.apply_price_book(text)
        assert gov.list_model_prices(source="all") == []

    def test_the_same_model_twice_in_one_batch_is_a_conflict(self, gov: Governance) -> None:
        """Found before any SQL, naming both elements; nothing is written."""
        with pytest.raises(ConflictError) as raised:
            gov.apply_price_book([row("p", "m"), row("p", "other"), row("p", "m", 1, 1, 1, 1)])
        assert "element 2" in str(raised.value)
        assert "element 0" in str(raised.value)
        assert gov.list_model_prices(source="all") == []

    def test_provider_and_model_are_kept_as_given(self, gov: Governance) -> None:
        """No case folding: OpenAI and openai are different providers."""
        gov.apply_price_book([row("OpenAI", "GPT"), row("openai", "gpt"), row("p", " m ")])
        assert [(p.provider, p.model) for p in gov.list_model_prices()] == sorted(
            [("OpenAI", "GPT"), ("openai", "gpt"), ("p", " m ")]
        )

    def test_the_largest_price_is_stored_exactly(self, gov: Governance) -> None:
        """A stored amount may be anything in 0 … 2**63-1 (PostgreSQL BIGINT)."""
        gov.apply_price_book([row("p", "m", MAX_MICROS, 0, None, MAX_MICROS)])
        price = gov.get_model_price("p", "m")
        assert price is not None
        assert (price.input_price, price.cache_write_price) == (MAX_MICROS, MAX_MICROS)

    def test_applying_a_seed_needs_the_owner(self, gov: Governance) -> None:
        """Manage prices: owner (and system); other actors get ForbiddenError."""
        others: list[tuple[SiteRole, ...]] = [(), ("user-admin",), ("auditor",), ("member",)]
        for roles in others:
            actor = Actor.user(uuid4(), site_roles=roles)
            with pytest.raises(ForbiddenError):
                gov.apply_price_book([row()], actor=actor)
        owner = Actor.user(uuid4(), site_roles=("owner",))
        assert gov.apply_price_book([row()], actor=owner).inserted == 1

    # -- §3.3 custom prices and lookups ----------------------------------------------------------

    def test_a_custom_price_takes_precedence_over_the_price_book(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        gov.apply_price_book([row("openai", "a")])
        custom = gov.set_custom_price(SYSTEM, "openai", "a", **CUSTOM)
        assert (custom.source, custom.created_at, custom.updated_at) == ("custom", clock(), clock())
        assert gov.get_model_price("openai", "a") == custom
        assert gov.list_model_prices() == [custom]

    def test_a_custom_price_needs_no_price_book_row(self, gov: Governance) -> None:
        custom = gov.set_custom_price(SYSTEM, "self-hosted", "llama", **CUSTOM)
        assert gov.get_model_price("self-hosted", "llama") == custom

    def test_replacing_a_custom_price_keeps_created_at(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        first = gov.set_custom_price(SYSTEM, "p", "m", **CUSTOM)
        clock.advance(timedelta(minutes=5))
        second = gov.set_custom_price(SYSTEM, "p", "m", **{**CUSTOM, "input_price": 7})
        assert (second.created_at, second.updated_at, second.input_price) == (
            first.created_at,
            clock(),
            7,
        )
        assert gov.get_model_price("p", "m") == second

    def test_setting_the_same_custom_price_writes_nothing(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        first = gov.set_custom_price(SYSTEM, "p", "m", **CUSTOM)
        clock.advance(timedelta(minutes=5))
        assert gov.set_custom_price(SYSTEM, "p", "m", **CUSTOM) == first
        assert gov.get_model_price("p", "m") == first

    def test_deleting_a_custom_price_restores_the_price_book(self, gov: Governance) -> None:
        gov.apply_price_book([row("openai", "a")])
        custom = gov.set_custom_price(SYSTEM, "openai", "a", **CUSTOM)
        assert gov.delete_custom_price(SYSTEM, "openai", "a") == custom
        price = gov.get_model_price("openai", "a")
        assert price is not None
        assert price.source == "pricebook"
        gov.set_custom_price(SYSTEM, "only", "custom", **CUSTOM)
        gov.delete_custom_price(SYSTEM, "only", "custom")
        assert gov.get_model_price("only", "custom") is None

    def test_deleting_a_missing_custom_price_is_not_found(self, gov: Governance) -> None:
        gov.apply_price_book([row("openai", "a")])
        with pytest.raises(NotFoundError):
            gov.delete_custom_price(SYSTEM, "openai", "a")

    def test_an_unknown_model_has_no_price(self, gov: Governance) -> None:
        assert gov.get_model_price("nobody", "nothing") is None

    def test_listing_filters_by_provider_model_and_source(self, gov: Governance) -> None:
        gov.apply_price_book([row("a", "x"), row("a", "y"), row("b", "x")])
        custom = gov.set_custom_price(SYSTEM, "a", "y", **CUSTOM)
        effective = gov.list_model_prices()
        assert [(p.provider, p.model, p.source) for p in effective] == [
            ("a", "x", "pricebook"),
            ("a", "y", "custom"),
            ("b", "x", "pricebook"),
        ]
        assert len(gov.list_model_prices(source="all")) == 4
        assert len(gov.list_model_prices(source="pricebook")) == 3
        assert gov.list_model_prices(source="custom") == [custom]
        assert [p.model for p in gov.list_model_prices(provider="a")] == ["x", "y"]
        assert [p.provider for p in gov.list_model_prices(model="x")] == ["a", "b"]
        assert gov.list_model_prices(provider="a", model="y", source="pricebook")[0].source == (
            "pricebook"
        )
        with pytest.raises(InvalidInputError):
            gov.list_model_prices(source="cheapest")  # type: ignore[arg-type]

    def test_custom_prices_need_the_owner(self, gov: Governance) -> None:
        others: list[tuple[SiteRole, ...]] = [(), ("user-admin",), ("auditor",)]
        for roles in others:
            actor = Actor.user(uuid4(), site_roles=roles)
            with pytest.raises(ForbiddenError):
                gov.set_custom_price(actor, "p", "m", **CUSTOM)
        owner = Actor.user(uuid4(), site_roles=("owner",))
        gov.set_custom_price(owner, "p", "m", **CUSTOM)
        with pytest.raises(ForbiddenError):
            gov.delete_custom_price(Actor.user(uuid4()), "p", "m")
        assert gov.get_model_price("p", "m") is not None

    @pytest.mark.parametrize(
        ("prices", "error"),
        [
            ({**CUSTOM, "input_price": 1.0}, InvalidInputError),
            ({**CUSTOM, "input_price": True}, InvalidInputError),
            ({**CUSTOM, "input_price": "5"}, InvalidInputError),
            ({**CUSTOM, "output_price": -1}, AmountOutOfRangeError),
            ({**CUSTOM, "output_price": 2**63}, AmountOutOfRangeError),
        ],
        ids=["float", "bool", "string", "negative", "2**63"],
    )
    def test_bad_custom_prices_are_refused(
        self, gov: Governance, prices: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            gov.set_custom_price(SYSTEM, "p", "m", **prices)
        assert gov.list_model_prices(source="all") == []

    def test_several_custom_prices_are_set_at_once_in_the_order_given(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        gov.apply_price_book([row("p", "b")])
        kept = gov.set_custom_price(SYSTEM, "p", "a", **CUSTOM)
        clock.advance(timedelta(minutes=1))
        stored = gov.set_custom_prices(
            SYSTEM,
            [
                {"provider": "p", "model": "b", **CUSTOM},
                {"provider": "p", "model": "a", **CUSTOM},  # unchanged: written nothing
                {"provider": "q", "model": "c", **CUSTOM, "input_price": 9},
            ],
        )
        assert [(p.provider, p.model, p.source) for p in stored] == [
            ("p", "b", "custom"),
            ("p", "a", "custom"),
            ("q", "c", "custom"),
        ]
        assert stored[1] == kept
        assert (stored[0].created_at, stored[2].input_price) == (clock(), 9)
        assert gov.list_model_prices(source="custom") == sorted(stored, key=lambda p: p.key)
        assert gov.set_custom_prices(SYSTEM, []) == []

    @pytest.mark.parametrize(
        "bad",
        [
            {"provider": "q", "model": "d", **CUSTOM, "output_price": -1},
            {"provider": "q", "model": "d"},
            {"provider": "q", "model": "d", **CUSTOM, "extra": 1},
            {"provider": "", "model": "d", **CUSTOM},
            {"provider": "p", "model": "m", **CUSTOM},  # the first element's model again
            "p/m",
        ],
        ids=["negative", "missing prices", "unknown key", "empty provider", "twice", "not a map"],
    )
    def test_custom_prices_with_one_bad_element_store_nothing(
        self, gov: Governance, bad: Any
    ) -> None:
        with pytest.raises(InvalidInputError, match=r"prices\[1\]|more than once"):
            gov.set_custom_prices(SYSTEM, [{"provider": "p", "model": "m", **CUSTOM}, bad])
        assert gov.list_model_prices(source="all") == []
        with pytest.raises(InvalidInputError):
            gov.set_custom_prices(SYSTEM, {"provider": "p", "model": "m", **CUSTOM})  # type: ignore[arg-type]

    def test_setting_several_custom_prices_needs_the_owner(self, gov: Governance) -> None:
        with pytest.raises(ForbiddenError):
            gov.set_custom_prices(
                Actor.user(uuid4(), site_roles=("user-admin",)),
                [{"provider": "p", "model": "m", **CUSTOM}],
            )
        assert gov.list_model_prices(source="all") == []

    @pytest.mark.parametrize("name", ["", "x" * 256, "nul\x00", 5])
    def test_bad_provider_or_model_names_are_invalid(self, gov: Governance, name: Any) -> None:
        with pytest.raises(InvalidInputError):
            gov.set_custom_price(SYSTEM, name, "m", **CUSTOM)
        with pytest.raises(InvalidInputError):
            gov.get_model_price("p", name)

    def test_models_sort_by_code_point(self, gov: Governance) -> None:
        """The same order on every store, whatever a database's collation says."""
        names = ["a", "a-b", "ab", "B", "Z", "é", "_x"]
        result = gov.apply_price_book([row("p", name) for name in names])
        assert [model for _, model in result.inserted_keys] == sorted(names)
        assert [p.model for p in gov.list_model_prices()] == sorted(names)
