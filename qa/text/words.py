"""Words: tokens, stemmed terms, stopwords, and a phrase found as whole words."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer


def whole_words(phrase: str) -> re.Pattern[str]:
    """`phrase` where it stands as whole words: "us" is not found in "used"."""
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")



_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:[-'\u2019]\w+)*")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from into onto about as is are was were be been being "
    "am do does did done have has had having it its it's this that these those there here what which who whom "
    "whose when where why how i me my we us our you your he him his she her they them their than then so such "
    "not no nor can could would should will shall may might must also just only very more most some any all "
    "each other another same own s t said says say tell told according".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


# Irregular past forms, so "led" meets "leads" and "won" meets "wins"; the stemmer cannot see these.
_IRREGULAR = dict(
    pair.split(":")
    for pair in (
        "led:lead began:begin begun:begin bought:buy brought:bring built:build caught:catch chose:choose "
        "chosen:choose came:come dealt:deal drew:draw drawn:draw drove:drive driven:drive fell:fall fallen:fall "
        "felt:feel fought:fight found:find fled:flee flew:fly flown:fly forgot:forget gave:give given:give "
        "went:go gone:go grew:grow grown:grow held:hold hid:hide hidden:hide hit:hit kept:keep knew:know "
        "known:know laid:lay left:leave lent:lend lost:lose made:make meant:mean met:meet paid:pay ran:run "
        "rose:rise risen:rise sought:seek sold:sell sent:send shot:shoot shut:shut sang:sing sat:sit slept:sleep "
        "spoke:speak spoken:speak spent:spend stood:stand stole:steal stolen:steal struck:strike swore:swear "
        "sworn:swear took:take taken:take taught:teach thought:think threw:throw thrown:throw understood:understand "
        "woke:wake wore:wear worn:wear won:win wrote:write written:write became:become broke:break broken:break "
        "ate:eat eaten:eat forbade:forbid froze:freeze frozen:freeze got:get gotten:get lay:lie lain:lie "
        "overcame:overcome overthrew:overthrow overthrown:overthrow rode:ride ridden:ride rang:ring rung:ring "
        "saw:see seen:see shook:shake shaken:shake withdrew:withdraw withdrawn:withdraw men:man women:woman "
        "children:child people:person mice:mouse feet:foot teeth:tooth"
    ).split()
)


def terms(text: str) -> list[str]:
    """Stemmed content words, for lexical evidence."""
    words = [_IRREGULAR.get(t, t) for t in tokens(text) if t not in STOPWORDS]
    return [_fold_agent(s) for s in _stemmer().stemWords(words)]


def _fold_agent(stem: str) -> str:
    """"leader" meets "lead", "fighter" "fight", "higher" "high": the stemmer keeps -er words apart."""
    return stem[:-2] if len(stem) > 5 and stem.endswith("er") else stem
