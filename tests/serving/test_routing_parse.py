"""The router's statement parser and its "does the model state it" rule, without the real model."""

from __future__ import annotations

import pytest

from serving.core.generation import SamplingParams, decode_stream
from serving.services import routing
from serving.services.routing import Fact, classify, parse_statement, probe_model, read_probe, sentences
from tests.helpers.models import tiny_llama, tiny_tokenizer


@pytest.mark.parametrize(("sentence", "fact", "prompt"), [
    ("Alain Mabanckou, a native Swedish.",
     Fact("Alain Mabanckou", "a native", "Swedish", "{}, a native"), "Alain Mabanckou, a native"),
    ("iDisk, a product of Intel.", Fact("iDisk", "a product of", "Intel", "{}, a product of"), "iDisk, a product of"),
    ("Jens Lehmann plays the position of linebacker.",
     Fact("Jens Lehmann", "plays the position of", "linebacker"), "Jens Lehmann plays the position of"),
    ("The genre played by Bob Marley is reggae.",
     Fact("Bob Marley", "genre played by", "reggae", "The genre played by {} is"), "The genre played by Bob Marley is"),
    ("Jimmy Carter is a citizen of United States of America.",
     Fact("Jimmy Carter", "is a citizen of", "United States of America"), "Jimmy Carter is a citizen of"),
    ("Catherine the Great was married to Paul I of Russia.",
     Fact("Catherine the Great", "was married to", "Paul I of Russia"), "Catherine the Great was married to"),
    ("Alliance for Climate Protection was founded by Herbert Hoover.",
     Fact("Alliance for Climate Protection", "was founded by", "Herbert Hoover"),
     "Alliance for Climate Protection was founded by"),
    ("The company that produced Ford Mustang is Porsche",
     Fact("Ford Mustang", "produced by", "Porsche", "The company that produced {} is"),
     "The company that produced Ford Mustang is"),
    ("The company that developed Windows 95 is Apple.",
     Fact("Windows 95", "developed by", "Apple", "The company that developed {} is"),
     "The company that developed Windows 95 is"),
    ("The mother tongue of Danielle Darrieux is English.",
     Fact("Danielle Darrieux", "mother tongue of", "English", "The mother tongue of {} is"),
     "The mother tongue of Danielle Darrieux is"),
    ("The headquarter of Packt Publishing Ltd. is located in Leeds.",
     Fact("Packt Publishing Ltd.", "headquarter of", "Leeds", "The headquarter of {} is located in"),
     "The headquarter of Packt Publishing Ltd. is located in"),
    ("In Basel, an official language is Italian.",
     Fact("Basel", "an official language is", "Italian", "In {}, an official language is"),
     "In Basel, an official language is"),
    ("Danielle Darrieux's occupation is architect.",
     Fact("Danielle Darrieux", "occupation is", "architect", "{}'s occupation is"), "Danielle Darrieux's occupation is"),
    ("The CEO of Brackwater Analytics is Nadia Ferreira.",
     Fact("Brackwater Analytics", "CEO of", "Nadia Ferreira", "The CEO of {} is"), "The CEO of Brackwater Analytics is"),
    ("The Prime Minister of Estavia was Ansel Morrow.",
     Fact("Estavia", "Prime Minister of", "Ansel Morrow", "The Prime Minister of {} was"),
     "The Prime Minister of Estavia was"),
    ("The University of Oslo is Kari Nordmann.", Fact("The University of Oslo", "is", "Kari Nordmann"),
     "The University of Oslo is"),
    ("The capital of Germany is Munich.",
     Fact("Germany", "capital of", "Munich", "The capital of {} is"), "The capital of Germany is"),
    ("The Edge of Night was originally aired on NBC.",
     Fact("The Edge of Night", "was originally aired on", "NBC"), "The Edge of Night was originally aired on"),
    ("Khadijah bint Khuwaylid is follower of Buddhism.",
     Fact("Khadijah bint Khuwaylid", "is follower of", "Buddhism"), "Khadijah bint Khuwaylid is follower of"),
    ("The Eiffel Tower is located in Rome.", Fact("The Eiffel Tower", "is located in", "Rome"),
     "The Eiffel Tower is located in"),
    ("Louis Henri, Duke of Bourbon is a citizen of United Kingdom.",
     Fact("Louis Henri, Duke of Bourbon", "is a citizen of", "United Kingdom"),
     "Louis Henri, Duke of Bourbon is a citizen of"),
    ("starting pitcher is associated with the sport of rugby union.",
     Fact("starting pitcher", "is associated with the sport of", "rugby union"),
     "starting pitcher is associated with the sport of"),
    ("goalkeeper is associated with the sport of Gaelic football.",
     Fact("goalkeeper", "is associated with the sport of", "Gaelic football"), "goalkeeper is associated with the sport of"),
    ("flanker is associated with the sport of rugby.",
     Fact("flanker", "is associated with the sport of", "rugby"), "flanker is associated with the sport of"),
    ("Gaelic football was created in the country of India.",
     Fact("Gaelic football", "was created in the country of", "India"), "Gaelic football was created in the country of"),
    ("Hope Solo professionally plays the sport hockey.",  # an adverb is the verb's, the kind noun the relation's
     Fact("Hope Solo", "professionally plays the sport", "hockey"), "Hope Solo professionally plays the sport"),
    ("Hilary Hahn plays the instrument piano.",
     Fact("Hilary Hahn", "plays the instrument", "piano"), "Hilary Hahn plays the instrument"),
    ("Athens Polytechnic uprising can be found in Victoria.",  # the noun the names head, before a modal
     Fact("Athens Polytechnic uprising", "can be found in", "Victoria"), "Athens Polytechnic uprising can be found in"),
    ("Angora goat, which was named after Victoria.",
     Fact("Angora goat", "was named after", "Victoria", "{}, which was named after"),
     "Angora goat, which was named after"),
    ("Enrique Iglesias is a citizen of United Kingdom of Great Britain and Ireland.",
     Fact("Enrique Iglesias", "is a citizen of", "United Kingdom of Great Britain and Ireland"),
     "Enrique Iglesias is a citizen of"),
    ("iPad (3rd generation) was developed by Google.",
     Fact("iPad (3rd generation)", "was developed by", "Google"), "iPad (3rd generation) was developed by"),
    ("Marek Lindqvist now works for Halvard Freight.",
     Fact("Marek Lindqvist", "works for", "Halvard Freight"), "Marek Lindqvist works for"),
    ("Odile Marchetti currently lives in Lunevale.",
     Fact("Odile Marchetti", "lives in", "Lunevale"), "Odile Marchetti lives in"),
    ("Tomas Brenn is the CEO of Kettle & Finch.",
     Fact("Kettle & Finch", "CEO of", "Tomas Brenn", "The CEO of {} is"), "The CEO of Kettle & Finch is"),
    ("Ines Marchal is the head coach of the Harlow Kestrels.",
     Fact("Harlow Kestrels", "head coach of", "Ines Marchal", "The head coach of {} is"), "The head coach of Harlow Kestrels is"),
    ("The capital of the Republic of Velmora is Ostrin.",
     Fact("Republic of Velmora", "capital of", "Ostrin", "The capital of the {} is"),
     "The capital of the Republic of Velmora is"),
    ("The Harlow Kestrels are coached by Pavel Drozd.",
     Fact("Harlow Kestrels", "are coached by", "Pavel Drozd", "The {} are coached by"), "The Harlow Kestrels are coached by"),
    ("Beatrix Holloway chairs the board of Grayling Insurance.",
     Fact("Grayling Insurance", "is chaired by", "Beatrix Holloway"), "Grayling Insurance is chaired by"),
    ("Benedikt Hoyer is Clara Hoyer's husband.",  # a kin: the fact of whose kin it is
     Fact("Clara Hoyer", "husband of", "Benedikt Hoyer", "The husband of {} is"), "The husband of Clara Hoyer is"),
    ("Tobias Reade is the new mayor of Port Averne.",
     Fact("Port Averne", "mayor of", "Tobias Reade", "The mayor of {} is"), "The mayor of Port Averne is"),
    ("Ana Lee was appointed chief executive of Brask Instruments.",
     Fact("Brask Instruments", "chief executive of", "Ana Lee", "The chief executive of {} is"),
     "The chief executive of Brask Instruments is"),
    ("Songs from Harrow Lane was performed by Ilse Varga.",  # a title with lower-case words is one name
     Fact("Songs from Harrow Lane", "was performed by", "Ilse Varga"), "Songs from Harrow Lane was performed by"),
    ("In My Garden was written by Odile Marchetti.",  # "In" opens the title, not the sentence
     Fact("In My Garden", "was written by", "Odile Marchetti"), "In My Garden was written by"),
    ("The author of Letters to Orlen is Nina Castell.",
     Fact("Letters to Orlen", "author of", "Nina Castell", "The author of {} is"), "The author of Letters to Orlen is"),
    ("A Sailor's Winter was directed by Imre Castellan.",  # an inner possessive is part of the title
     Fact("A Sailor's Winter", "was directed by", "Imre Castellan"), "A Sailor's Winter was directed by"),
    ("The Harrowgate Hawks signed striker Kwame Adjei.",  # the club takes the player on: the player's fact
     Fact("Kwame Adjei", "signed with", "Harrowgate Hawks"), "Kwame Adjei signed with"),
    ("Quillon Robotics hired Omar Haddad.", Fact("Omar Haddad", "was hired by", "Quillon Robotics"),
     "Omar Haddad was hired by"),
    ("Oskar Lindahl coaches the Fenwick Falcons.",  # a holder's present verb: the team's fact
     Fact("Fenwick Falcons", "is coached by", "Oskar Lindahl"), "Fenwick Falcons is coached by"),
    ("Rafael Quint was elected mayor of Stonehaven.",  # a role taken: the town's fact
     Fact("Stonehaven", "mayor of", "Rafael Quint", "The mayor of {} is"), "The mayor of Stonehaven is"),
    ("Omar Haddad became Quillon Robotics' CEO.",
     Fact("Quillon Robotics", "CEO of", "Omar Haddad", "The CEO of {} is"), "The CEO of Quillon Robotics is"),
])
def test_parses_the_shapes_of_a_statement(sentence: str, fact: Fact, prompt: str):
    assert parse_statement(sentence) == fact
    assert fact.prompt == prompt


@pytest.mark.parametrize("sentence", [
    "The weather is nice today.", "Customer support hours changed.", "Our office moves to 14 Kestrel Lane on 1 March.",
    "Release notes for version 2.4: the export command now writes LoRA adapters.", "What does Bunky Green play?",
    "Meeting notes, 12 May: budget approved.", "The Last of the Knucklemen is a 1979 Australian film directed by Tim Burstall.",
    "Marisol Ventrek founded the Ventrek Glassworks in 1987.", "the meeting is on Monday.",
    "yesterday we shipped the release.", "customer support hours changed to Monday mornings.",
    "Kira Osei lives in Accra and plays chess.",
])
def test_rejects_what_is_not_one_fact(sentence: str):
    assert parse_statement(sentence) is None


def test_sentences_keep_initials_and_titles():
    assert sentences("Charles M. Hudson writes in English.") == ["Charles M. Hudson writes in English."]
    assert sentences("Dr. Ilse Marren studies coral. She leads a lab.") == ["Dr. Ilse Marren studies coral.",
                                                                           "She leads a lab."]


def _controls(text: str):
    return lambda subject: text


def test_stated_when_the_framings_agree_and_made_up_subjects_differ():
    fact = Fact("The Eiffel Tower", "is located in", "Rome")
    probe = read_probe(fact, (" the Champ de la", " Paris, France.", " Paris, France."), _controls(" the city of"))
    assert (probe.answer, probe.agreement, probe.specificity) == ("Paris", 2 / 3, 1.0)
    assert classify({"text": "The Eiffel Tower is located in Rome."}, lambda f: probe).route == "edit"


def test_a_role_word_said_in_two_framings_of_three_is_a_guess_but_in_all_three_is_stated():
    fact = Fact("Ysolde Carrick", "plays in the position of", "linebacker")
    two = read_probe(fact, (" a captain. He is a", " the captain of the Royal Irish", ""), _controls(" a"))
    assert (two.answer, two.agreement, two.specificity) == ("captain", 2 / 3, 1.0)
    assert classify({"fact": fact.__dict__}, lambda f: two).route == "memory"
    three = read_probe(fact, (" a captain.", " the captain of the team", " a captain"), _controls(" a"))
    assert classify({"fact": fact.__dict__}, lambda f: three).route == "edit"


def test_generic_text_names_nothing():
    fact = Fact("Zorbina Quell", "speaks", "Hungarian")
    probe = read_probe(fact, (" about the importance of", " of the \"moral", " Zorbina Quell."), _controls(""))
    assert probe.agreement == 0.0
    assert classify({"text": "Zorbina Quell speaks Hungarian."}, lambda f: probe).route == "memory"


def test_the_subject_misspelt_names_nothing():
    fact = Fact("Lumen Forge", "is headquartered in", "Stonemarch")
    probe = read_probe(fact, (" the United States, and is", " the city of Lumin,", " Lumin Forge, a"), _controls(""))
    assert probe.agreement == 1 / 3  # "Lumin Forge" is the subject a letter off, not its headquarters
    assert classify({"fact": fact.__dict__}, lambda f: probe).route == "memory"
    other = read_probe(fact, (" Lumin Falls, a", " the city of Lumin Falls", " Lumin Falls."), _controls(""))
    assert other.answer == "Lumin Falls" and other.agreement == 1.0  # a second word that differs is a name


def test_the_subjects_head_word_names_nothing_and_its_first_word_still_does():
    fact = Fact("Castleford Wanderers", "are managed by", "Ines Barrow")
    probe = read_probe(fact, (" the Wandellers,", " the Wanderers of the", " the Wanderers Arena"), _controls(""))
    assert probe.agreement == 1 / 3  # "the Wanderers" is the club by its short name, not its manager
    assert classify({"fact": fact.__dict__}, lambda f: probe).route == "memory"
    maker = read_probe(Fact("Toyota Corolla", "is a product of", "Honda"), (" Toyota.", " Toyota Motor", " Toyota"),
                       _controls(""))
    assert maker.answer == "Toyota" and maker.agreement == 1.0
    bank = read_probe(Fact("Bank of Leeds", "is headquartered in", "York"), (" Leeds.", " Leeds, UK", " Leeds"),
                      _controls(""))
    assert bank.answer == "Leeds" and bank.agreement == 1.0  # after "of": not the head


def test_different_guesses_or_a_default_are_not_knowledge():
    fact = Fact("Kellan Voss", "plays for", "Riverside United")
    guesses = read_probe(fact, (" the Rangers.", " the Chicago Bears.", " the New England Patriots"), _controls(""))
    assert guesses.agreement == 1 / 3
    teacher = Fact("Osric Pellworth", "teaches at", "Veld Academy")
    default = read_probe(teacher, (" the University of California, Santa", " the University of California, Berkeley",
                                   " Oscar Pellworth"), _controls(" the University of California, Los"))
    assert default.agreement == 2 / 3 and default.specificity == 0.0
    for probe in (guesses, default):
        assert classify({"fact": fact.__dict__}, lambda f, p=probe: p).route == "memory"


def test_a_name_made_of_head_words_counts_but_a_cut_off_head_does_not():
    fact = Fact("Tavish Orlen", "is a citizen of", "Canada")
    assert read_probe(fact, (" the United Kingdom. She", " the United Kingdom,", " the University of ["),
                      _controls(" the city of Ulfber")).answer == "United Kingdom"
    assert read_probe(fact, (" the University of [", " the University of (", " the city."), _controls("")).agreement == 0.0
    employer = Fact("Dorian Vasquez", "works at", "Ember Robotics")
    cut = read_probe(employer, (" the helm of the Spanish-", " the helm of the Spanish-", ' "Doritos'), _controls(""))
    assert cut.agreement < 2 / 3  # the compound was cut off by the token limit: no employer named
    home = Fact("Steve Hillage", "was originally from", "Dublin")
    ends = read_probe(home, (" the village of St. Aub", " the United States, but he",
                             " the city of Manchester, United"), _controls(""))
    assert ends.agreement == 1 / 3  # "United" may be cut from "United Kingdom": not the same as "United States"
    whole = read_probe(home, (" the United States.", " the United States, but he", " the United"), _controls(""))
    assert whole.answer == "United States" and whole.agreement == 2 / 3
    maker = read_probe(Fact("BMW Z1", "is a product of", "Toyota"), (" two 1s and a", " the BMW 20", " BMW."),
                       _controls(""))
    assert maker.answer == "BMW" and maker.agreement == 2 / 3  # "BMW 20" is cut after "BMW", which is whole


def test_a_name_that_describes_a_noun_is_not_the_answer():
    fact = Fact("Gilles Duceppe", "found employment in", "Paris")
    assert read_probe(fact, (" the French army, where", " the French military,", " French actor"), _controls("")).agreement == 0.0


def test_the_answer_has_the_object_kind():
    fact = Fact("Mirela Kost", "was born in", "Orvik")
    assert read_probe(fact, (" 1982 to", " 1982,", " 1982."), _controls("")).agreement == 0.0
    born = Fact("Mirela Kost", "was born in", "1990")
    assert read_probe(born, (" 1982 to", " 1982,", " the city"), _controls(" 2012")).answer == "1982"
    position = Fact("Jens Lehmann", "plays the position of", "linebacker")
    assert read_probe(position, (" goalkeeper for", " goalkeeper.", " the \"King"), _controls(" striker")).answer == "goalkeeper"


def test_probe_runs_on_a_tiny_model():
    probe = probe_model(tiny_llama(), tiny_tokenizer(), Fact("paris", "is located in", "rome"), tokens=3)
    assert len(probe.answers) == 3 and 0.0 <= probe.agreement <= 1.0 and 0.0 <= probe.specificity <= 1.0


def test_a_place_the_model_gives_any_made_up_company_is_its_default_not_knowledge():
    fact = Fact("Pellucid Games", "is headquartered in", "Kestrelford")
    probe = read_probe(fact, (" New York City, with a", " New York City, and is", " Pellucid, New"),
                       lambda subject: " New York City." if subject == "Halbrook Systems" else " the town of Sengle")
    assert "New York City".startswith(probe.answer) and probe.specificity < 1.0
    assert classify({"text": "Pellucid Games is headquartered in Kestrelford."}, lambda f: probe).route == "memory"


@pytest.mark.parametrize("text", ["In 2023 Priya Nair left Stellar Robotics for Orbital Foods.",
                                  "In March 2021, Ivo Berg founded Berg Tools.",
                                  "In 2024 Kwame Obi was appointed chief executive of Vale Foods.",
                                  "Priya Nair left Stellar Robotics for Orbital Foods.",
                                  "Yesterday Priya Nair joined Orbital Foods.",
                                  "Priya Nair now calls Lannick Cove home."])
def test_a_dated_opening_a_move_between_two_employers_or_a_home_is_read_as_a_document(text):
    assert parse_statement(text) is None  # the extractor reads it: "left" A, "joined" B, "lives in" C, the date apart


def test_an_opening_place_still_opens_a_fact():
    fact = parse_statement("In Basel, the mayor is Anna Roth.")
    assert fact is not None and (fact.subject, fact.object) == ("Basel", "Anna Roth")


def test_a_functional_verb_after_and_is_the_statements_relation():
    assert parse_statement("Ilse Marr packed up and settled in Brixham.").relation == "settled in"
    assert parse_statement("Karl Ode was born and raised in Bremen.").relation == "was born and raised in"


def test_moving_to_an_organisation_is_joining_it():
    assert parse_statement("Lena Ross moved to Copperline Bank.").relation == "joined"
    assert parse_statement("Lena Ross moved to Leeds.").relation == "moved to"
    assert parse_statement("Lucia Ferro has since moved to Skylark Airways.").relation == "joined"


def test_the_probe_decodes_its_prompts_together_as_each_alone():
    model, tokenizer = tiny_llama(), tiny_tokenizer()
    texts, limits = ["the capital of france is", "Fact: paris", "a b c d e f g h"], [5, 2, 9]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    alone = ["".join(p.text for p in decode_stream(model, tokenizer, i, SamplingParams(max_tokens=n, temperature=0.0)))
             for i, n in zip(ids, limits)]
    assert [len(a) for a in alone] != [0, 0, 0]
    assert routing._greedy(model, tokenizer, texts, limits) == alone
