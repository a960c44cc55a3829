"""The background document frequencies (qa.index.background) that keep a term's weight steady."""

import json
from collections import Counter

from qa.index.background import RECORD, background, terms_tag
from qa.index.snapshot import Snapshot
from qa.text import terms


def snapshot(chunk_df: Counter, n_chunks: int) -> Snapshot:
    return Snapshot(articles={}, by_hash={}, bm25=None, chunk_df=chunk_df, n_chunks=n_chunks)


def test_the_table_counts_the_terms_todays_code_makes():
    # qa.text's terms changed and the table did not: rebuild it (python -m evals.build_background_idf).
    assert json.loads(RECORD.read_text())["terms_tag"] == terms_tag()


def test_common_words_weigh_less_than_rare_ones_even_in_a_one_chunk_index():
    snap = snapshot(Counter(terms("The Taliban said the year began with a ceasefire.")), 1)
    # in the index alone every term occurs once and weighs the same; English text says which is rare
    assert snap.idf(terms("Taliban")[0]) > snap.idf(terms("year")[0]) + 1.0
    assert background().df[terms("year")[0]] > 1000


def test_a_terms_weight_barely_moves_when_unrelated_articles_are_added():
    article = Counter(terms("ISIS-K has a hostile relationship with Afghanistan's new rulers, the Taliban.") * 3)
    alone = snapshot(article, 20)
    unrelated = Counter(terms("The new tram line gets riders across town; seals get a new pool at the zoo.") * 8)
    beside = snapshot(article + unrelated, 100)
    for word in ("afghanistan", "get", "new", "taliban"):
        t = terms(word)[0]
        assert abs(beside.idf(t) - alone.idf(t)) / alone.idf(t) < 0.05, word
