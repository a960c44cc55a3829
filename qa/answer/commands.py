"""What qa.answer.injection needs besides its English rule: text normalised before any rule looks at
it, forged chat-role tags, commands written in other languages, and the English imperative and
request forms ("Say that ...", "Hey Siri, ...", "Pretend you are ...", "You are kindly requested
to ...") that make a sentence a command rather than a report.

Nothing here knows about reporting frames: qa.answer.injection decides whether a command is reported
("..., police said") and therefore still evidence.
"""

from __future__ import annotations

import re
import unicodedata

# -- normalisation -----------------------------------------------------------------------------------
# Cyrillic and Greek letters drawn like Latin ones (Unicode's confusables for these scripts, the
# letters an attacker can type); NFKC already folds full-width and mathematical letters.
_LOOKALIKES = str.maketrans(
    "АВЕЅІЈКМНОРСТХУѴаеһіјорсѕухԁԛԝӏɡ"
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνρυϲϳα",
    "ABESIJKMHOPCTXYVaehijopcsyxdqwlg"
    "ABEZHIKMNOPTYXoikvpucja",
)
_LOOKALIKE_SET = frozenset(
    "АВЕЅІЈКМНОРСТХУѴаеһіјорсѕухԁԛԝӏɡΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνρυϲϳα"
)
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_WORDS = re.compile(r"\w+")


def _latin(c: str) -> bool:
    return c.isascii() or "LATIN" in unicodedata.name(c, "")


def normalise(text: str) -> str:
    """The text as the rules read it: NFKC, invisible characters removed, look-alike Cyrillic and
    Greek letters folded to Latin (in a word that has Latin letters, or everywhere when most letters
    are Latin: a Russian sentence stays Russian), accents dropped ("répondez" -> "repondez")."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    if text.isascii():
        return text
    if any(c in _LOOKALIKE_SET for c in text):
        letters = [c for c in text if c.isalpha()]
        if 2 * sum(_latin(c) for c in letters) >= len(letters):
            text = text.translate(_LOOKALIKES)
        else:
            text = _WORDS.sub(lambda m: m.group().translate(_LOOKALIKES) if any(c.isascii() and c.isalpha() for c in m.group()) else m.group(), text)
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


# -- forged chat-role tags: each flags a sentence on its own ----------------------------------------------
_ROLES = r"system|sys|assistant|user|admin|administrator|developer|instructions?|inst|prompt|operator|root|jailbreak"
ROLE_TAG = re.compile(
    rf"\[\s*/?\s*(?:{_ROLES})(?:\s+(?:message|prompt|note|instructions?|override|mode|update))?\s*\]"
    r"|<\|\s*[\w\s.-]{1,30}\s*\|>|<<\s*/?\s*(?:sys|system|inst)\s*>>"
    r"|(?:^|\n)\s*#{1,6}\s*(?:system|instructions?|response|assistant|user|input|task|prompt)\b"
    r"|\{\{\s*(?:system|instructions?|prompt)\s*\}\}|</?\s*(?:sys|prompt|admin|developer)\s*>",
    re.IGNORECASE,
)
ROLE_LABEL = re.compile(r"^\W*(?:SYSTEM|ASSISTANT|DEVELOPER|ADMIN|INSTRUCTIONS?|PROMPT)\s*(?:MESSAGE|NOTE|PROMPT)?\s*:")

# -- other languages ------------------------------------------------------------------------------------
# Function words that tell a language apart (accents dropped, as `normalise` leaves them).
_FUNCTION = {
    "en": "the of and to is was that for on with as by at from it are were be has have this which an",
    "fr": "le la les des une est et que qui dans pour pas sur au aux du ne vous tu il elle cet cette sont avec",
    "de": "der die das und ist nicht ein eine zu mit den dem sie du ich auf fur dass wurde bist sind",
    "es": "el la los las que y es en un una por para con no del se tu usted eres son esta",
    "it": "il lo la gli le che e di un una per con non del della sei sono questo questa",
    "pt": "o a os as que e de um uma por para com nao do da voce sao este esta",
    "nl": "de het een en is van dat niet je jij u zijn met voor op dit deze",
}
_FUNCTION_SETS = {k: frozenset(v.split()) for k, v in _FUNCTION.items()}
# Output verbs as imperatives, infinitives and polite forms; second-person words; AI nouns; polite markers.
_FOREIGN_OUTPUT = frozenset(
    # French
    "dis dites reponds repondez ecris ecrivez affirme affirmez indique indiquez annonce annoncez declare declarez "
    "mentionne mentionnez decris decrivez presente presentez raconte racontez explique expliquez confirme confirmez "
    "ignore ignorez oublie oubliez pretends pretendez repete repetez informe informez signale signalez precise "
    "precisez dire repondre ecrire affirmer indiquer annoncer declarer mentionner decrire presenter expliquer "
    "confirmer signaler ignorer preciser informer repeter "
    # German
    "sag sage sagt sagen antworte antwortet antworten schreib schreibe schreibt schreiben behaupte behauptet "
    "behaupten erklare erklaren beschreibe beschreiben erwahne erwahnen melde melden bestatige bestatigen "
    "ignoriere ignorieren vergiss vergessen gib teile wiederhole wiederholen berichte berichten "
    # Spanish
    "di diga digan decir responde responda respondan responder escribe escriba escriban escribir afirma afirme "
    "afirmen afirmar declara declarar menciona mencione mencionar describa describir anuncia anuncie anunciar "
    "confirma confirme confirmar informa informe informar ignora ignorar olvida olvide repite repita cuenta cuente "
    "explica explique finge finja "
    # Italian
    "dici rispondi risponda rispondere scrivi scriva scrivere afferma affermare dichiara dichiarare dimentica "
    "conferma descrivi annuncia fingi riferisci "
    # Portuguese
    "dizer respondam escreva escrevam escrever esqueca descreva diz responde "
    # Dutch
    "zeg antwoord schrijf beweer negeer vergeet meld bevestig beschrijf".split()
)
_FOREIGN_MODALS = frozenset(
    "dois doit devez doivent devrait devraient veuillez musst muss mussen sollst soll sollen solltest sollte "
    "debes debe deben deberia deberias devi deve devono dovresti devem deves precisa precisam moet moeten".split()
)
_FOREIGN_POLITE = re.compile(r"\b(?:bitte|veuillez|merci de|por favor|per favore|alsjeblieft|s'il (?:te|vous) pla[iî]t)\b")
_FOREIGN_YOU = frozenset("tu toi vous du dich dir dein ihr eres usted ustedes vosotros sei voce voces jij je".split())
_FOREIGN_AI = re.compile(
    r"\b(?:ia|ki|ai|chatbots?|bots?|robots? conversationnels?|agents? conversationnels?|assistan(?:t|ts|ten|te|tes|ti)"
    r"(?: (?:ia|ki|virtuel\w*|virtual\w*|de ia|di ia))?|ki-\w+|sprachmodell\w*|taalmodel\w*"
    r"|mod[eè]les? de langage|modelos? de (?:lenguaje|linguagem)|modell[io] linguistic[io]"
    r"|intelligence artificielle|kunstliche intelligenz|inteligencia artificial|intelligenza artificiale)\b"
)
FOREIGN_MARKERS = re.compile(
    r"\b(?:ignore[zs]?|oublie[zs]?|ignorier(?:e|en)|vergiss|vergessen|ignora[rn]?|ignore[nm]?|olvid[ae]n?|dimentica|"
    r"esqueca|negeer|vergeet)\s+(?:\w+\s+){0,3}(?:instructions|consignes|directives|anweisungen|instruktionen|"
    r"vorgaben|instrucciones|indicaciones|istruzioni|instrucoes|instructies)\b"
    r"|\b(?:tu es|vous etes|du bist|sie sind|ahora eres|ora sei|agora (?:voce e|es)|je bent)\s+(?:maintenant|desormais|"
    r"jetzt|nun|ab sofort|ahora|ora|agora|nu)\b"
    r"|\b(?:a partir de maintenant|desormais|ab jetzt|ab sofort|von nun an|a partir de ahora|de ahora en adelante|"
    r"d'ora in poi|de agora em diante|vanaf nu)\b.{0,40}\b(?:tu|vous|du|sie|eres|debes|devi|deve|je)\b"
)
_FOREIGN_OPENERS = re.compile(
    r"^\W*(?:note (?:aux?|pour)|message (?:aux?|pour)|attention|hinweis (?:fur|an)|nachricht (?:fur|an)|achtung|"
    r"liebe[rs]?|cher|chere|nota (?:para|per|a)|mensaje para|atencion|querid[oa]s?|estimad[oa]s?|hola|hallo|salut|"
    r"bonjour|ciao|caro|cara|ola|beste)\b"
)


def language(low_words: list[str]) -> str:
    """The language whose function words are most frequent ("en" on a tie or when none stands out)."""
    counts = {k: sum(w in s for w in low_words) for k, s in _FUNCTION_SETS.items()}
    best = max(counts, key=lambda k: (counts[k], k == "en"))
    return best if best != "en" and counts[best] >= 2 and counts[best] > counts["en"] else "en"


def foreign_command(norm: str) -> bool:
    """A sentence in another language that tells its reader to say or do something: an "ignore the
    instructions" phrase, or an output verb that is an imperative or follows a modal, with an AI
    named, "you", a salutation or a polite marker. News in English rarely holds a whole sentence in
    another language; one that gives orders is not news."""
    low = norm.lower().replace("\u2019", "'")
    words = _WORDS.findall(low)
    if language(words) == "en":
        return False
    if FOREIGN_MARKERS.search(low):
        return True
    verbs = [i for i, w in enumerate(words) if w in _FOREIGN_OUTPUT]
    if not verbs:
        return False
    addressed = bool(_FOREIGN_AI.search(low) or _FOREIGN_POLITE.search(low) or _FOREIGN_OPENERS.search(low))
    addressed |= any(w in _FOREIGN_YOU for w in words)
    clause_starts = {0} | {len(_WORDS.findall(low[: m.end()])) for m in re.finditer(r"[:;,\u2014]", low)}
    commanded = any(i in clause_starts or words[i - 1] in _FOREIGN_MODALS or words[i - 1] in ("bitte", "favor", "favore")
                    for i in verbs)  # fmt: skip
    return commanded and (addressed or 0 in verbs)


# -- English commands ------------------------------------------------------------------------------------
def _words(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Verbs that tell the reader to speak: with "that", an audience or a colon after them, a command to an answerer.
SPEECH = _words(
    "say state claim answer reply respond write tell report announce declare insist assert confirm mention repeat "
    "output print describe portray characterise characterize inform deny explain recite quote"
)
# Base forms that open an imperative sentence ("Call 911", "Avoid the bridge"); many are nouns too, so
# what follows decides (see `imperative_at`).
IMPERATIVES = SPEECH | _words(
    "pretend imagine act play ignore disregard forget include add list summarise summarize recommend call "
    "contact visit click go ask give send share remember keep make let stop start use stay avoid leave take "
    "check read try do be refuse treat assume believe translate rewrite praise promote warn reveal show "
    "put follow obey change update insert append replace return generate produce provide suggest emphasise "
    "emphasize stress highlight present refer cite label rate rank identify speak talk express omit skip get find "
    "buy sign join vote donate subscribe download watch listen see look wait evacuate run open close turn drink "
    "eat wash wear register apply book pay bring meet help allow set continue begin end focus pay respond"
)
# What may follow an imperative verb: an object, a clause, an adverb; never "of", a verb or a possessive.
_NOT_AFTER_IMPERATIVE = _words(
    "of is was are were has had have will would can could may might 's - : , and or to for in on at by ) ] ? !"
)
AUDIENCE = _words(
    "user users reader readers everyone everybody anyone anybody people visitors viewers listeners customers them "
    "whoever public audience"
)
_REQUEST = re.compile(
    r"\byou\s+(?:are|were|will\s+be|have\s+been)\s+(?:\w+ly\s+|hereby\s+|now\s+|also\s+)*"
    r"(?:requested|asked|required|instructed|expected|invited|encouraged|urged|advised|reminded|told|directed|"
    r"ordered|supposed|obliged|kindly\s+requested|to)\s+(?:to\s+)?(?P<v1>\w+)"
    r"|\b(?:could|would|can|will|won't)\s+you\s+(?:please\s+|kindly\s+|just\s+|now\s+)*(?:be\s+so\s+kind\s+as\s+to\s+)?(?P<v2>\w+)"
    r"|\b(?:i|we|i'd|we'd)\s+(?:would\s+|'d\s+|really\s+)?(?:like|want|need|ask|request|invite|urge|expect|"
    r"encourage|beg)\s+(?:that\s+)?you\s+(?:to\s+)?(?P<v3>\w+)"
    r"|\bif\s+you\s+(?:could|would|can|will)\s+(?:please\s+|kindly\s+|just\s+|now\s+)*(?P<v4>\w+)"
    r"|\b(?:please|kindly)\s+(?:do\s+)?(?:\w+ly\s+)?(?P<v5>\w+)",
    re.IGNORECASE,
)
ROLE_PLAY = re.compile(
    r"^\W*(?:(?:now|so|and|please|kindly)\s+)?(?:pretend|imagine|suppose)\s+(?:that\s+)?(?:you|you're|to\s+be)\b"
    r"|^\W*(?:(?:now|please|kindly)\s+)?(?:act|behave|respond|answer|speak|write)\s+(?:as\s+if|as\s+though|like|as)\s+"
    r"(?:you|an?|the)\b"
    r"|^\W*(?:(?:now|please|kindly)\s+)?(?:play|take\s+on|assume|adopt)\s+the\s+(?:role|part|persona|character)\b"
    r"|^\W*role[- ]?play\b"
    r"|\byou\s+are\s+now\s+(?:an?|the|my|our)\b"
    r"|\b(?:from|as\s+of)\s+(?:now|this\s+(?:point|moment)|here)(?:\s+on)?,?\s+(?:on\s+)?,?\s*you\b",
    re.IGNORECASE,
)
HEY = re.compile(
    r"^\W*(?:hey|hi|hello|ok|okay|yo|dear|greetings)\s*,?\s+(?:there\s+)?(?:siri|alexa|google|cortana|bixby|bard|"
    r"chatgpt|chat\s*gpt|gpt[\w.-]*|claude|gemini|copilot|grok|llama|mistral|perplexity|deepseek|assistant|bot|"
    r"chatbot|ai|computer|model|robot)\b",
    re.IGNORECASE,
)
SALUTATION = re.compile(r"^\W*(?:hey|hi|hello|ok|okay|yo|dear|greetings)\s*,?\s+(?:\w+\s+){0,2}?\w+\s*[,:!]", re.IGNORECASE)
ANSWER_IS = re.compile(
    r"\bthe (?:correct|right|true|real|only|official|proper|actual|accurate) (?:answer|response|reply|story|version|"
    r"winner|facts?|truth|figure|number|result|cause)\b(?: \w+){0,4}? (?:is|are|was|were)\b"
    r"|\b(?:this|that) is the (?:only )?(?:correct|right|true|real|official) (?:answer|version|story)\b",
    re.IGNORECASE,
)


def request_verbs(low: str) -> list[str]:
    """Verbs a polite request asks "you" to do: "could you kindly report", "I would like you to answer"."""
    return [next(v for v in m.groups() if v) for m in _REQUEST.finditer(low)]
# What opens the object of an imperative ("Avoid the bridge", "Ask your pharmacist", "Call 911"); a
# capitalised verb before anything else is a noun or a name ("State media", "Book 4", "Say Anything").
OBJECT_OPENERS = frozenset(
    "the a an your my our his her their its this that these those all every any some no me us him them it "
    "yourself yourselves everyone anyone anybody everybody people users readers also only up out down off away "
    "back what how why whether if when more not never always exactly \" ' \u201c \u2018".split()
)
TO_VERBS = frozenset("go listen talk respond reply speak write refer turn return stick send".split())
