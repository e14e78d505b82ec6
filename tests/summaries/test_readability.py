"""Readability scores (textstat's, offline), long sentences, jargon and the content checklist."""

from __future__ import annotations

import socket

import pytest

from portal.domain.summaries import readability as r
from portal.domain.summaries.checklist import check
from tests.summaries.helpers import LAY_SUMMARY


def test_scores_equal_textstats_own_when_it_has_no_cmu_dictionary(monkeypatch):
    import textstat
    from textstat.backend.counts import _count_syllables

    # textstat would look words up in NLTK's CMU dictionary (not installed) and fall back to
    # Pyphen for the rest; with an empty dictionary it uses Pyphen only, as the portal does.
    monkeypatch.setattr(_count_syllables, "get_cmudict", lambda lang: {})
    prepared = r.normalised(LAY_SUMMARY)
    ours = r.scores(LAY_SUMMARY)
    try:
        assert ours["flesch_reading_ease"] == round(textstat.flesch_reading_ease(prepared), 1)
        assert ours["flesch_kincaid_grade"] == round(textstat.flesch_kincaid_grade(prepared), 1)
        assert ours["smog_index"] == round(textstat.smog_index(prepared), 1)
        assert ours["words"] == textstat.lexicon_count(prepared)
    finally:
        r._forget()


def test_scoring_needs_no_network_and_no_nltk_data(monkeypatch):
    import nltk

    def no_network(*_args, **_kwargs):
        raise AssertionError("the readability report must not use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(nltk, "download", no_network)
    report = r.analyse(LAY_SUMMARY, [], r.starter_jargon())
    scores = report["scores"]
    assert scores["words"] > 100 and scores["sentences"] >= 20
    assert 60 < scores["flesch_reading_ease"] < 100
    assert scores["reading_age"]["flesch_kincaid_grade"]


def test_plain_short_sentences_meet_the_target_and_dense_ones_do_not():
    easy = r.scores("We gave people a new pill. It helped them. They felt well. " * 12)
    hard = r.scores(
        "Pharmacokinetic characterisation demonstrated considerably diminished bioavailability "
        "following subcutaneous administration in immunocompromised individuals. " * 5
    )
    assert easy["meets_target"]["flesch_kincaid_grade"] is True
    assert easy["reading_age"]["flesch_reading_ease"] == "10-11"
    assert hard["meets_target"] == {
        "flesch_reading_ease": False,
        "flesch_kincaid_grade": False,
        "smog_index": False,
    }
    assert hard["reading_age"]["smog_index"] == "18 or over (university)"


def test_headings_and_bullets_end_sentences():
    text = "Who took part\n- 120 adults\n- 40 children\n\nWe found that it worked well."
    assert r.sentences(text) == [
        "Who took part",
        "120 adults",
        "40 children",
        "We found that it worked well.",
    ]


def test_sentences_over_25_words_are_listed():
    long = " ".join(["word"] * 30) + "."
    found = r.long_sentences(f"A short one. {long} Another short one.")
    assert [item["words"] for item in found] == [30]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It was a double blind trial.", {"double blind": 1}),
        (
            "Double-blind, randomised, with placebos.",
            {"double blind": 1, "randomised": 1, "placebo": 1},
        ),
        ("A serious adverse event happened.", {"serious adverse event": 1}),
        ("Placebo and PLACEBO and placebo.", {"placebo": 3}),
        ("The protocols said so.", {"protocol": 1}),
        ("Nothing to see here.", {}),
    ],
)
def test_jargon_is_found_whatever_the_case_hyphens_or_plural(text, expected):
    found = r.find_jargon(text, r.starter_jargon())
    assert {j["term"]: j["count"] for j in found} == expected


def test_the_starter_list_is_loaded_from_the_data_file():
    terms = r.starter_jargon()
    assert terms["placebo"] == "dummy treatment with no medicine in it"
    assert len(terms) > 50


def test_the_checklist_finds_each_item_by_the_text_under_its_heading_or_keywords():
    rows = {row["key"]: row for row in check(LAY_SUMMARY, ["Why was the trial done?"])}
    assert all(row["found"] for row in rows.values()), rows
    assert rows["why"]["evidence"] == "text under the heading “Why was the trial done?”"
    assert rows["results"]["evidence"] == "text under the heading “What were the results?”"
    assert rows["title_sponsor"]["evidence"].startswith("mentions")


def test_the_checklist_says_what_is_missing():
    rows = {row["key"]: row["found"] for row in check("The medicine worked well.", [])}
    assert rows["given"] is True
    assert rows["side_effects"] is False and rows["more_info"] is False


def test_headings_without_text_under_them_do_not_count():
    text = "# Lay summary of the Breathwell trial\n\n## What were the results?\n\n## Side effects\n"
    rows = {row["key"]: row for row in check(text, [])}
    assert rows["results"]["found"] is False
    assert (
        rows["results"]["evidence"] == "the heading “What were the results?” has no text under it"
    )
    assert rows["side_effects"]["found"] is False


def test_results_need_text_under_a_results_heading_not_the_word_results():
    text = (
        "Results of the Breathwell trial\n\nThe results will help doctors. We found that people "
        "had fewer attacks."
    )
    rows = {row["key"]: row for row in check(text, [])}
    assert rows["results"]["found"] is False
    inline = "Lay summary of the trial\n\nWhat were the main results? People had fewer attacks."
    found = {row["key"]: row for row in check(inline, [])}["results"]
    assert found["found"] is True
    assert found["evidence"] == "text under the heading “What were the main results?”"


def test_a_summary_under_100_words_is_too_short_to_score():
    seven = r.scores("We gave people a new pill today.")
    assert seven["words"] == 7 and seven["too_short"] is True
    assert seven["meets_target"] == {
        "flesch_reading_ease": False,
        "flesch_kincaid_grade": False,
        "smog_index": False,
    }
    assert r.scores(LAY_SUMMARY)["too_short"] is False
