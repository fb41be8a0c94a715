"""Job names and label values stay valid, deterministic and distinct for any user-chosen name.

Cases: an 80-character pipeline name, two 70-character names that share their
first 60, a repo named `Train_Model.V2` as a label value, and cuts that fall
right after a `-` or a `.`.
"""

from __future__ import annotations

import hashlib

import pytest

from processors.k8s_naming import MAX_LENGTH, is_dns_label, is_label_value, job_name, label_value


def job_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


LONG_80 = "nightly-feature-extraction-for-the-cardiology-imaging-research-cohort-2026-q4-ru"
SHARED_60 = "radiology-report-deidentification-and-structured-extractions"
SEVENTY_A = SHARED_60 + "-alpha-v10"
SEVENTY_B = SHARED_60 + "-bravo-v20"


def test_case_names_have_the_lengths_the_case_describes():
    assert len(LONG_80) == 80
    assert len(SHARED_60) == 60
    assert len(SEVENTY_A) == len(SEVENTY_B) == 70


@pytest.mark.parametrize(
    ("pipeline", "note"),
    [
        (LONG_80, "80-character pipeline name"),
        (SEVENTY_A, "70-character name, first of two sharing 60 characters"),
        (SEVENTY_B, "70-character name, second of two sharing 60 characters"),
        ("a" * 45 + "-" + "b" * 30, "truncation point right after a dash"),
        ("a" * 45 + "." + "b" * 30, "truncation point right after a dot"),
        ("a" * 44 + "--" + "b" * 30, "truncation point inside a run of dashes"),
        ("Train_Model.V2", "upper case, underscore and dot"),
        ("-.-", "symbols only"),
        ("x", "one character"),
        ("a" * 253, "longest name the event schema allows"),
    ],
)
def test_job_name_is_dns_label(pipeline, note):
    name = job_name(pipeline, job_id(note))

    assert len(name) <= MAX_LENGTH, note
    assert is_dns_label(name), (note, name)


def test_job_name_is_deterministic():
    assert job_name(LONG_80, job_id("one")) == job_name(LONG_80, job_id("one"))


def test_job_names_differ_per_job_id():
    names = {job_name(LONG_80, job_id(str(index))) for index in range(2000)}

    assert len(names) == 2000


def test_job_names_differ_for_shared_prefix():
    same_id = job_id("shared")

    assert job_name(SEVENTY_A, same_id) != job_name(SEVENTY_B, same_id)


def test_job_name_cut_after_dash():
    name = job_name("a" * 45 + "-" + "b" * 30, job_id("dash"))

    assert "--" not in name
    assert name.startswith("a" * 45 + "-")


def test_job_name_keeps_short_pipeline():
    name = job_name("train-model", job_id("short"))

    assert name.startswith("train-model-")


def test_job_name_prefix_within_limit():
    name = job_name(LONG_80, job_id("p"), prefix="cj-")

    assert name.startswith("cj-nightly-feature-")
    assert len(name) <= MAX_LENGTH


@pytest.mark.parametrize(
    "value",
    ["Train_Model.V2", "train-model", "a", "", "A" * 63, "x_y.z-9"],
)
def test_valid_label_values_are_kept_as_they_are(value):
    assert label_value(value) == value


@pytest.mark.parametrize(
    ("value", "note"),
    [
        (LONG_80, "80 characters"),
        ("a" * 62 + "-" + "b" * 10, "cut right after a dash"),
        ("a" * 52 + "." + "b" * 30, "cut right after a dot"),
        ("_leading-underscore", "starts with a symbol"),
        ("trailing.", "ends with a symbol"),
        ("has space/and slash", "characters outside the label alphabet"),
        ("å", "non-ASCII only"),
        (job_id("x"), "a 64-character job id"),
    ],
)
def test_invalid_label_values_become_valid_ones(value, note):
    converted = label_value(value)

    assert is_label_value(converted), (note, converted)
    assert converted == label_value(value)


def test_label_values_differ_for_shared_prefix():
    assert label_value(SHARED_60 + "-alpha-extra-long") != label_value(SHARED_60 + "-bravo-extra-long")


def test_label_value_keeps_readable_prefix():
    identifier = job_id("readable")

    assert label_value(identifier).startswith(identifier[:40])
