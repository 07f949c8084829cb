"""The key-check dataset: deterministic, well-formed keys with realistic answers that updates change."""

from __future__ import annotations

import re

import pytest

from fakeapi import KeyService

KEY = re.compile(r"[A-Z0-9]{5}(-[A-Z0-9]{5}){4}")


def test_keys_are_deterministic_from_size_and_seed() -> None:
    assert KeyService(200, seed=3).all() == KeyService(200, seed=3).all()
    assert KeyService(200, seed=3).all() != KeyService(200, seed=4).all()
    assert KeyService(200, seed=3).all()[:50] == KeyService(50, seed=3).all()


def test_every_answer_is_a_well_formed_unique_key_with_five_fields() -> None:
    answers = KeyService(500, seed=1).all()
    assert len(answers) == 500
    assert len({answer["keyname_with_dash"] for answer in answers}) == 500
    for answer in answers:
        assert set(answer) == {"keyname_with_dash", "prd", "remaining", "blocked", "errorcode"}
        assert KEY.fullmatch(str(answer["keyname_with_dash"]))
        assert isinstance(answer["remaining"], int) and answer["remaining"] >= 0
        assert answer["blocked"] in (0, 1)
        assert isinstance(answer["errorcode"], str)
    assert sum(answer["errorcode"] == "" for answer in answers) > 250  # usually no error
    assert 0 < sum(int(answer["blocked"]) for answer in answers) < 100


def test_office_products_are_a_real_subset_for_ilike_filters() -> None:
    products = [str(answer["prd"]) for answer in KeyService(500, seed=1).all()]
    office = [product for product in products if "office" in product.lower()]
    assert 150 < len(office) < 350
    assert {"Office 2021 Pro", "Office 2019 Home", "Windows 11 Pro", "Visio 2021", "Project 2021"} <= set(
        products
    )


def test_update_changes_the_answers_of_the_keys_it_returns() -> None:
    keys = KeyService(300, seed=2)
    before = {answer["keyname_with_dash"]: answer for answer in keys.all()}
    changed = keys.update(40, seed=9)
    assert len(set(changed)) == 40
    after = {answer["keyname_with_dash"]: answer for answer in keys.all()}
    assert list(after) == list(before)  # same keys, same order
    assert {key for key in before if after[key] != before[key]} == set(changed)
    assert all(after[key]["remaining"] != before[key]["remaining"] for key in changed)
    assert KeyService(300, seed=2).update(40, seed=9) == changed  # reproducible


def test_update_without_seed_picks_differently_each_call_but_reproducibly() -> None:
    first, second = KeyService(300), KeyService(300)
    picks = [first.update(10), first.update(10)]
    assert picks[0] != picks[1]
    assert [second.update(10), second.update(10)] == picks


def test_lookup_answers_known_keys_once_in_order_and_hands_out_copies() -> None:
    keys = KeyService(20)
    known = [str(answer["keyname_with_dash"]) for answer in keys.all()]
    answers = keys.lookup([known[5], "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", known[2], known[5]])
    assert [answer["keyname_with_dash"] for answer in answers] == [known[5], known[2]]
    answers[0]["remaining"] = -1
    assert keys.get(known[5]) != answers[0]
    assert keys.get("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA") is None


def test_bad_sizes_and_counts_raise() -> None:
    with pytest.raises(ValueError):
        KeyService(-1)
    with pytest.raises(ValueError):
        KeyService(5).update(6)
