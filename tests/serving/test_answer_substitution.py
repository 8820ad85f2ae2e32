"""Answer substitution: when the shown facts chain a subject the question names to the one object it
asks for, a name the answer takes from neither the question nor the chain's facts becomes that object."""

from __future__ import annotations

from dataclasses import replace

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from memory.facts import FactHit
from serving.core.generation import Guidance, anchored_token, closing_token, contrast, name_starts, sentence_breaks
from serving.services.grounding import anchored_sources, covers, fact_sentence, fact_sources, names
from serving.services.substitution import Substitution, answer_substitution, asked_chain, chain_sources, verb_tokens
from tests.helpers.models import byte_tokenizer

WORDS = ("In which continent was the CEO of developer Visual Basic Script born ? Frontier Developments "
         "Charles Koch Nigeria Antarctica United States is in located I . , The capital India Grosseto Delhi").split()


def spaced_tokenizer() -> PreTrainedTokenizerFast:
    """Whole words, each at a word's start ("ĠNigeria") and not (for an answer's first word)."""
    vocab = {"<unk>": 0, "<eos>": 1, "Ċ": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
        vocab.setdefault("Ġ" + word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")


def _substitution(tok, facts: list[FactHit], question: str) -> Substitution:
    return answer_substitution(tok, facts, question, asked_chain(facts, question))


def _fact(i: int, subject: str, relation: str, obj: str) -> FactHit:
    return FactHit(f"f{i}", f"e{i}", subject, relation, obj, 0.5, "2026-12-04", None, None)


CHAIN = [
    _fact(1, "Visual Basic Script", "was developed by", "Frontier Developments"),
    _fact(2, "Frontier Developments", "CEO of", "Charles Koch"),
    _fact(3, "Charles Koch", "was born in", "Nigeria"),
    _fact(4, "Nigeria", "is located in the continent of", "Antarctica"),
]
QUESTION = "In which continent was the CEO of the developer of Visual Basic Script born?"


def test_the_asked_object_ends_a_chain_that_starts_at_a_subject_the_question_names():
    assert asked_chain(CHAIN, QUESTION) == CHAIN
    assert asked_chain(CHAIN[1:], QUESTION) == []  # the chain no longer reaches Visual Basic Script
    # only the first hop is shown: the question asks for a continent and a birthplace none of them has
    assert asked_chain(CHAIN[:1], QUESTION) == []
    assert asked_chain(CHAIN[:1], "Who is the developer of Visual Basic Script?") == CHAIN[:1]
    assert asked_chain(CHAIN, "In which continent is Zanzibar?") == []
    other = _fact(5, "Visual Basic Script", "is located in the continent of", "Europe")
    assert asked_chain([*CHAIN, other], QUESTION) == []  # two different objects asked for
    assert asked_chain([*CHAIN, _fact(6, "Visual Basic Script", "costs", "nothing")], QUESTION) == CHAIN


def test_the_facts_cover_a_question_when_they_hold_every_functional_relation_it_asks_for():
    assert covers(CHAIN, QUESTION)
    assert not covers(CHAIN[:3], QUESTION)  # no continent
    works = [_fact(7, "Ilse Varga", "works for", "Kettle & Finch")]
    assert covers(works, "Which company employs Ilse Varga?")
    assert not covers(works, "In which city is the company Ilse Varga works for headquartered?")
    assert covers(works, "In which country does Ilse Varga work?")  # "country" asks for nothing by itself
    # "belong to" asks for the continent, not an owner ("belongs to" is an owner's relation)
    belong = "Which continent did the birthplace of the CEO of the developer of Visual Basic Script belong to?"
    assert covers(CHAIN, belong)


def test_a_parenthesis_of_a_subject_may_be_left_out_of_the_question():
    assert names("Where does Kira Osei live?", "Kira Osei (born 1990)")
    assert names("Who developed the iPad (3rd generation)?", "iPad (3rd generation)")
    assert not names("Where is Accra?", "Kira Osei (born 1990)")


def test_a_question_names_a_person_by_one_part_of_the_name():
    assert names("Where does Lindqvist work?", "Marek Lindqvist")
    assert names("Who is Marek's employer?", "Marek Lindqvist")
    assert not names("What is the capital of United States?", "United Kingdom")  # the whole name must belong
    assert not names("Who performed The Life of Pablo?", "In My Life")  # "Life" is part of a longer title
    assert not names("Who wrote Hamlet?", "Marek Lindqvist")
    assert not names("Where is Oslo?", "University of Oslo")  # not a name in capitals throughout
    assert names("Where was Kira Osei born?", "Kira Ama Osei")  # all but one word of three
    assert not names("Which company is Halvard Mustang produced by?", "Halvard Motor Company")  # "company" is no name
    assert names("Who founded Halvard Motor Company?", "Halvard Motor Company")
    assert not names("Who is the director of The Beatles?", "With the Beatles")  # but never the first


def test_foreign_names_are_the_capitalised_words_of_neither_the_question_nor_the_chain():
    tok = spaced_tokenizer()
    answer, foreign = _substitution(tok, CHAIN, QUESTION)[:2]
    ids = tok.convert_tokens_to_ids
    assert answer == (ids("ĠAntarctica"),)
    assert bool(foreign[ids("ĠUnited")]) and bool(foreign[ids("ĠStates")])
    for held in ("ĠVisual", "ĠCEO", "ĠCharles", "ĠNigeria", "ĠAntarctica", "ĠI"):
        assert not foreign[ids(held)], held
    assert not foreign[ids("Ġborn")] and not foreign[ids("United")]  # lower case; no word start
    assert not _substitution(tok, CHAIN, "In which continent is Zanzibar?").answer
    # a shown fact off the chain: its object is not the answer, so it is foreign too
    off = _fact(8, "Visual Basic Script", "was designed in", "Grosseto")
    foreign = _substitution(tok, [*CHAIN, off], QUESTION).foreign
    assert bool(foreign[ids("ĠGrosseto")]) and not foreign[ids("ĠNigeria")]
    # a word of a chain fact's relation is the fact's own ("is a Danish film directed by")
    described = [*CHAIN[:3], _fact(9, "Nigeria", "is an India state located in the continent of", "Antarctica")]
    foreign = _substitution(tok, described, QUESTION).foreign
    assert not foreign[ids("ĠIndia")] and bool(foreign[ids("ĠUnited")])


def _logits(tok, best: str) -> torch.Tensor:
    logits = torch.zeros(len(tok))
    logits[tok.convert_tokens_to_ids(best)] = 5.0
    return logits


def test_a_foreign_name_in_the_answer_becomes_the_asked_object_spelled_out():
    tok = spaced_tokenizer()
    ids = tok.convert_tokens_to_ids
    answer = (ids("ĠCharles"), ids("ĠKoch"))
    foreign = name_starts(tok).clone()
    foreign[[ids("ĠVisual"), ids("ĠCharles"), ids("ĠKoch")]] = False
    guidance = Guidance([], 2.0, 0.1, answer=answer, foreign=foreign, breaks=sentence_breaks(tok))
    continues = torch.zeros(len(tok), dtype=torch.bool)
    said = [ids("The"), ids("ĠCEO"), ids("Ġis")]

    def chosen(generated, best):
        return int(contrast(_logits(tok, best), torch.zeros(len(tok)), guidance, continues, generated).argmax())

    assert chosen(said, "ĠUnited") == ids("ĠCharles")
    assert chosen([*said, ids("ĠCharles")], "ĠUnited") == ids("ĠKoch")  # the object is spelled out
    assert chosen([*said, *answer], "ĠUnited") == ids("ĠUnited")  # named once: left alone
    assert chosen(said, "ĠVisual") == ids("ĠVisual")  # a name the question or a fact holds
    assert chosen(said, "Ġlocated") == ids("Ġlocated")  # not a name
    assert chosen([*said, ids(".")], "ĠUnited") == ids("ĠUnited")  # a new sentence may start with anything
    assert chosen([], "United") == ids("United")  # nor at the answer's start
    off = Guidance([], 2.0, 0.1)
    assert int(contrast(_logits(tok, "ĠUnited"), torch.zeros(len(tok)), off, continues, said).argmax()) == ids("ĠUnited")


def test_an_answer_that_stops_at_a_link_of_the_chain_goes_on_with_the_rest_of_it():
    tok = spaced_tokenizer()
    sub = _substitution(tok, CHAIN, QUESTION)
    # from any subject of the chain, the chain's last fact: the answer, not the links between
    assert tok.decode(sub.closing) == " " + fact_sentence(CHAIN[3])
    assert len(sub.chain_subjects) == len(CHAIN)
    guidance = Guidance([], answer=sub.answer, foreign=sub.foreign, breaks=sentence_breaks(tok), closing=sub.closing,
                        chain_subjects=sub.chain_subjects)
    ids = tok.convert_tokens_to_ids
    stopped = [ids("The"), ids("ĠCEO"), ids("Ġis"), ids("ĠCharles"), ids("ĠKoch"), ids("Ġborn"), ids("ĠNigeria"), ids(".")]
    out = list(stopped)
    while (token := closing_token(out, guidance)) is not None:
        out.append(token)
    # after the last chain subject the answer named (Nigeria), the chain's last fact up to its object
    assert tok.decode(out[len(stopped):]) == " " + fact_sentence(CHAIN[3]).rstrip(".")
    assert closing_token(stopped[:-1], guidance) is None  # mid-sentence: left to the model
    # a closing in progress goes before fact copying, which here would end the sentence early
    tail = [ids(w) for w in ("ĠNigeria", "Ġis", "Ġlocated", "Ġin")]
    copying = Guidance([], copy_from=(((*tail[1:], ids(".")), 3),), answer=sub.answer, foreign=sub.foreign,
                       breaks=sentence_breaks(tok), closing=sub.closing, chain_subjects=sub.chain_subjects)
    scores = contrast(torch.zeros(len(tok)), torch.zeros(len(tok)), copying, torch.zeros(len(tok), dtype=torch.bool),
                      [*stopped, *tail])
    assert int(scores.argmax()) == ids("Ġthe")
    assert closing_token([ids("The"), ids("ĠCEO"), ids(".")], guidance) is None  # no chain subject named
    assert closing_token([*stopped[:-2], ids("ĠAntarctica"), ids(".")], guidance) is None  # answered


def test_an_answer_ends_at_the_sentence_that_names_the_asked_object():
    tok = spaced_tokenizer()
    ids = tok.convert_tokens_to_ids
    sub = _substitution(tok, [_fact(8, "India", "capital of", "Grosseto")], "What is the capital of India?")
    guidance = Guidance([], answer=sub.answer, foreign=sub.foreign, breaks=sentence_breaks(tok),
                        subject=sub.subject, verbs=sub.verbs, end=tok.eos_token_id)
    continues = torch.zeros(len(tok), dtype=torch.bool)

    def chosen(generated, best, guidance=guidance):
        return int(contrast(_logits(tok, best), torch.zeros(len(tok)), guidance, continues, generated).argmax())

    answered = [ids(w) for w in ("The", "Ġcapital", "Ġof", "ĠIndia", "Ġis", "ĠGrosseto", ".")]
    assert chosen(answered, "ĠThe") == tok.eos_token_id
    assert chosen(answered[:-1], ".") == ids(".")  # the sentence is not over yet
    unnamed = [ids(w) for w in ("The", "Ġcapital", "Ġis", "Ġin", "ĠIndia", ".")]
    assert chosen(unnamed, "ĠThe") == ids("ĠThe")
    assert chosen(answered, "ĠThe", replace(guidance, end=None)) == ids("ĠThe")  # off


def test_a_foreign_name_before_the_verb_becomes_the_subject_the_question_names():
    tok = spaced_tokenizer()
    ids = tok.convert_tokens_to_ids
    capital = [_fact(8, "India", "capital of", "Grosseto")]
    sub = _substitution(tok, capital, "What is the capital of India?")
    assert sub.subject == (ids("ĠIndia"),) and sub.answer == (ids("ĠGrosseto"),)
    assert bool(sub.verbs[ids("Ġis")]) and not sub.verbs[ids("Ġcapital")]
    guidance = Guidance([], answer=sub.answer, foreign=sub.foreign, breaks=sentence_breaks(tok),
                        closing=sub.closing, chain_subjects=sub.chain_subjects, subject=sub.subject, verbs=sub.verbs)
    continues = torch.zeros(len(tok), dtype=torch.bool)

    def chosen(generated, best):
        return int(contrast(_logits(tok, best), torch.zeros(len(tok)), guidance, continues, generated).argmax())

    opening = [ids("The"), ids("Ġcapital"), ids("Ġof")]
    assert chosen(opening, "ĠUnited") == ids("ĠIndia")  # before the verb: the subject's place
    with_subject = [*opening, ids("ĠIndia"), ids("Ġis")]
    assert chosen(with_subject, "ĠDelhi") == ids("ĠGrosseto")  # after it: the object's
    assert chosen([*opening, ids("ĠUnited"), ids("Ġis")], "ĠDelhi") == ids("ĠGrosseto")
    assert verb_tokens(tok) is sub.verbs  # cached per tokenizer


def test_an_answer_opening_with_the_named_subject_may_go_on_with_the_whole_chain():
    tok = byte_tokenizer()
    married = FactHit("f1", "i", "Ignatius Pell", "is married to", "Rosa Quent", 0.8, "2026-01-01", None, None)
    born = FactHit("f2", "i", "Rosa Quent", "was born in", "Valdemora", 0.7, "2026-01-01", None, None)
    [(ids, at)] = chain_sources(tok, asked_chain([married, born], q := "Where was Ignatius Pell's wife born?"), q)
    assert tok.decode(ids) == "Ignatius Pell is married to Rosa Quent. Rosa Quent was born in Valdemora."
    assert tok.decode(ids[:at]).strip() == "Ignatius Pell"
    assert chain_sources(tok, asked_chain([married, born], q := "Who is Ignatius Pell married to?"), q) == ()  # one hop


def test_a_fact_that_ends_at_the_named_entity_enters_the_chain_and_its_subject_is_the_answer():
    tok = byte_tokenizer()
    runs = FactHit("f1", "i", "Kestrel Works", "chief executive of", "Ana Brisk", 0.7, "2026-01-01", None, None)
    founded = FactHit("f2", "i", "Kestrel Works", "was founded by", "Edda Varr", 0.6, "2026-01-01", None, None)
    question = "Who founded the company that Ana Brisk runs?"
    assert asked_chain([runs, founded], question) == [runs, founded]
    [(ids, at)] = chain_sources(tok, [runs, founded], question)
    assert tok.decode(ids) == ("Ana Brisk is the chief executive of Kestrel Works. "
                               "Kestrel Works was founded by Edda Varr.")
    assert tok.decode(ids[:at]).strip() == "Ana Brisk"
    # one inverse fact: its answer is the subject, so no object is substituted for it
    assert asked_chain([runs], "Which company does Ana Brisk run?") == []


def test_an_inverse_fact_is_copied_and_announced_with_its_subject_not_the_named_object():
    tok = byte_tokenizer()
    capital = FactHit("f1", "i", "Velmora", "capital of", "Ostrin", 0.7, "2026-01-01", None, None)
    question = "Ostrin is the capital of which country?"
    anchored = [tok.decode(ids) for ids, _ in anchored_sources(tok, [capital], question)]
    assert "Ostrin is the capital of Velmora." in anchored and "The answer is Velmora." in anchored
    assert not any("Ostrin." in text for text in anchored)
    copies = [(tok.decode(ids[:at]), tok.decode(ids[at:])) for ids, at in fact_sources(tok, [capital], question)]
    assert copies and all(head.strip() == "Ostrin is the capital of" and tail.strip() == "Velmora"
                          for head, tail in copies)
    # asked forward, the same fact copies its object
    forward = [tok.decode(ids[at:]) for ids, at in fact_sources(tok, [capital], "What is the capital of Velmora?")]
    assert forward and all(tail.strip() == "Ostrin." for tail in forward)


def test_an_answer_that_opens_with_the_subject_of_a_nouns_relation_names_the_relation_before_the_object():
    tok = byte_tokenizer()
    director = FactHit("f1", "i", "Halvard Institute", "director of", "Anneli Korpela", 0.7, "2026-01-01", None, None)
    sources = anchored_sources(tok, [director], "Who is the director of the Halvard Institute?")
    answer = list(tok("The Halvard Institute", add_special_tokens=False)["input_ids"])
    while (token := anchored_token(answer, sources)) is not None:
        answer.append(token)
    assert tok.decode(answer) == "The Halvard Institute's director is Anneli Korpela."
    textiles = replace(director, subject="Pellam Textiles", relation="chief executive of", object="Cyril Adebayo")
    plural = anchored_sources(tok, [textiles], "Who is the chief executive of Pellam Textiles?")
    assert "Pellam Textiles' chief executive is Cyril Adebayo." in [tok.decode(ids) for ids, _ in plural]
    # the fact's own sentence still anchors an answer that opens with the relation
    assert "The director of Halvard Institute is Anneli Korpela." in [tok.decode(ids) for ids, _ in sources]
    # a verb's relation has no such wording
    works = FactHit("f2", "i", "Odile Marchetti", "works for", "Brask Instruments", 0.7, "2026-01-01", None, None)
    verb = anchored_sources(tok, [works], "Whom does Odile Marchetti work for?")
    assert verb and not any("'s" in tok.decode(ids) for ids, _ in verb)


def test_a_marriage_asked_from_the_other_spouse_is_copied_from_that_side():
    tok = byte_tokenizer()
    married = FactHit("f1", "i", "Ottilie Sand", "married", "Rupert Vane", 0.7, "2026-01-01", None, None)
    copies = [(tok.decode(ids[:at]), tok.decode(ids[at:]))
              for ids, at in fact_sources(tok, [married], "Who is Rupert Vane's wife?")]
    assert copies and all(head.strip() == "Rupert Vane married" and tail.strip() == "Ottilie Sand"
                          for head, tail in copies)


def test_a_verbs_fact_asked_for_its_subject_is_the_answer_from_its_first_token():
    tok = byte_tokenizer()
    works = FactHit("f1", "i", "Odile Marchetti", "works for", "Brask Instruments", 0.7, "2026-01-01", None, None)
    anchored = {tok.decode(ids): at for ids, at in anchored_sources(tok, [works], "Who works for Brask Instruments?")}
    assert anchored["Odile Marchetti works for Brask Instruments."] == 0
    assert "The answer is Odile Marchetti." in anchored
    # not asked with the wh-word in the subject's place: only the announced answer
    other = [tok.decode(ids) for ids, _ in anchored_sources(tok, [works], "Is anyone at Brask Instruments working?")]
    assert "Odile Marchetti works for Brask Instruments." not in other


def test_a_question_for_the_doer_of_a_passive_fact_is_answered_from_the_doer():
    tok = byte_tokenizer()
    bought = FactHit("f1", "i", "Wrenfield Motors", "was acquired by", "Ostberg Group", 0.7, "2026-01-01", None, None)
    for question, answer in (
            ("Who owns Wrenfield Motors?", "Ostberg Group owns Wrenfield Motors."),
            ("Which company bought Wrenfield Motors now?", "Ostberg Group bought Wrenfield Motors now.")):
        anchored = {tok.decode(ids, skip_special_tokens=True): (ids, at)
                    for ids, at in anchored_sources(tok, [bought], question)}
        ids, at = anchored[answer]
        assert at == 0 and ids[-1] == tok.eos_token_id  # the restated question is the whole answer
    # a question that goes on past the subject, or with an auxiliary, is not restated
    for question in ("Who founded the company that owns Wrenfield Motors?", "Who is Wrenfield Motors owned by?"):
        assert not any(at == 0 for _, at in anchored_sources(tok, [bought], question))
    active = FactHit("f2", "i", "Wrenfield Motors", "owns", "Ostberg Group", 0.7, "2026-01-01", None, None)
    assert not any(at == 0 for _, at in anchored_sources(tok, [active], "Who owns Wrenfield Motors?"))


def test_an_answer_that_would_end_before_naming_the_asked_object_goes_on_with_its_fact():
    tok = spaced_tokenizer()
    ids = tok.convert_tokens_to_ids
    sub = _substitution(tok, [_fact(8, "India", "capital of", "Grosseto")], "What is the capital of India?")
    guidance = Guidance([], answer=sub.answer, foreign=sub.foreign, breaks=sentence_breaks(tok), closing=sub.closing,
                        chain_subjects=sub.chain_subjects, end=tok.eos_token_id, answer_start=sub.answer_start)
    continues = torch.zeros(len(tok), dtype=torch.bool)

    def chosen(generated, guidance=guidance):
        eos = tok.convert_ids_to_tokens(tok.eos_token_id)
        return int(contrast(_logits(tok, eos), torch.zeros(len(tok)), guidance, continues, generated).argmax())

    stopped = [ids("India"), ids(".")]  # no object named: the model's end becomes the fact's sentence
    assert chosen(stopped) == sub.closing[0]
    out = [*stopped, sub.closing[0]]
    while (token := closing_token(out, guidance)) is not None:
        out.append(token)
    capital = fact_sentence(_fact(8, "India", "capital of", "Grosseto"))
    assert tok.decode(out[len(stopped):]) == " " + capital.rstrip(".")
    assert chosen([ids("ĠGrosseto"), ids(".")]) == tok.eos_token_id  # named: it may end
    assert sub.answer_start == (ids("Grosseto"),)
    assert chosen([ids("Grosseto"), ids(".")]) == tok.eos_token_id  # named as the answer's first word
    assert chosen(stopped, replace(guidance, end=None)) == tok.eos_token_id  # no end guidance: left to the model
