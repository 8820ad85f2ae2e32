"""Extraction: deterministic spans and triples, grounding, safe JSON parsing, the cache."""

from memory.extract import CachedExtractor, Extraction, ExtractionCache, RuleExtractor, ground, normalize, sanitize
from memory.openie import guessed_triples, parse_json_answer, rules_win
from memory.facts import ended_group, normalize_relation, relation_group


def test_rule_extractor_spans_and_triples():
    text = 'Alice Vantor was born in Quillby on 12 March 1891. She painted "Harbour at Dusk" for 300 guilders.'
    ex = RuleExtractor().extract([text])[0]
    assert {"Alice Vantor", "Quillby", "12 March 1891", "Harbour at Dusk", "300"} <= set(ex.entities)
    assert ("Alice Vantor", "was born in", "Quillby") in ex.triples
    assert ("Alice Vantor", "painted", "Harbour at Dusk") in ex.triples  # pronoun resolved to the subject


def test_grounding_drops_what_is_not_in_the_passage():
    passage = "Bruno Kessa won the Tour of Estel."
    ex = Extraction(["Bruno Kessa", "Paris", "tour of estel"], [("Bruno Kessa", "won", "Tour of Estel"), ("Bruno Kessa", "born in", "Paris"), ("Kessa", "is", "")])
    grounded = ground(ex, passage)
    assert grounded.entities == ["Bruno Kessa", "tour of estel"]
    assert grounded.triples == [("Bruno Kessa", "won", "Tour of Estel")]
    assert ground(Extraction(["Kess"]), passage).entities == []  # word boundaries, not substrings
    named = Extraction([], [("Calder Cup", "The Calder Cup", "Agnes Morrow"),
                            ("Bruno Kessa", "won the Tour of Estel", "Tour of Estel")])
    assert ground(named, "The Calder Cup is run by Agnes Morrow. " + passage).triples == []  # the relation names an argument
    names = Extraction(["Hollin Freight", "Sunniva Rask", "Jory Thane"],
                       [("Hollin Freight", "Sunniva Rask", "Jory Thane"),
                        ("Hollin Freight", "Founded By", "Jory Thane")])
    assert sanitize(names).triples == [("Hollin Freight", "Founded By", "Jory Thane")]  # a name relates nothing


def test_normalize():
    assert normalize("  The Blue-Mill (1931)! ") == "the blue mill 1931"


def test_parse_json_answer_is_safe_and_tolerant():
    assert parse_json_answer('Sure! {"named_entities": ["A", "B"]} done', "named_entities") == ["A", "B"]
    truncated = '{"triples": [["A", "met", "B"], ["B", "visited", "C"], ["C", "li'
    assert parse_json_answer(truncated, "triples") == [["A", "met", "B"], ["B", "visited", "C"]]
    assert parse_json_answer("__import__('os').system('echo pwned')", "triples") == []
    assert parse_json_answer('{"triples": "not a list"}', "triples") == []


class CountingExtractor:
    name = "counting"

    def __init__(self):
        self.seen = []

    def extract(self, passages):
        self.seen += passages
        return RuleExtractor().extract(passages)


def test_cache_extracts_each_passage_once_and_persists(tmp_path):
    inner = CountingExtractor()
    cached = CachedExtractor(inner, ExtractionCache(tmp_path / "cache.jsonl"))
    first = cached.extract(["Ada Lind lives in Orvik.", "Orvik is in Telmar."])
    cached.extract(["Orvik is in Telmar.", "Ada Lind lives in Orvik."])
    assert inner.seen == ["Ada Lind lives in Orvik.", "Orvik is in Telmar."]
    reloaded = CachedExtractor(CountingExtractor(), ExtractionCache(tmp_path / "cache.jsonl"))
    assert reloaded.extract(["Ada Lind lives in Orvik."]) == first[:1]
    assert reloaded.inner.seen == []


def test_a_pronoun_after_a_date_stands_for_the_previous_subject_and_a_title_noun_is_the_relation():
    text = ("Marek Lindqvist is a data scientist from Ravensholt. In 2019 he joined Corvane Analytics, a firm "
            "headquartered in Oslo. The chief executive of Corvane Analytics is Dagny Moe.")
    triples = RuleExtractor().extract([text])[0].triples
    assert ("Marek Lindqvist", "joined", "Corvane Analytics") in triples
    assert ("Corvane Analytics", "chief executive of", "Dagny Moe") in triples
    titled = RuleExtractor().extract(["The head coach of the Marrow Falcons is Petra Ilves."])[0].triples
    assert titled == [("Marrow Falcons", "head coach of", "Petra Ilves")]  # the article is not the relation's
    assert not any(s == "2019" for s, _, _ in triples)  # the date did not join anything
    later = RuleExtractor().extract(["In 2024 Marek Lindqvist left Corvane Analytics. He now works for Halvard Freight."])[0]
    assert ("Marek Lindqvist", "now works for", "Halvard Freight") in later.triples  # the name, not the date, is the subject


def test_the_cache_key_changes_with_the_rule_extractors_version(tmp_path):
    cached = CachedExtractor(RuleExtractor(), ExtractionCache(tmp_path / "c.jsonl"), "rule:model")
    assert cached.extractor_id == f"rule:model:v{RuleExtractor.version}"


def test_a_coordinated_verb_belongs_to_the_sentences_subject():
    triples = RuleExtractor().extract(["In 2024 Marek Lindqvist left Corvane Analytics and joined Halvard Freight."])[0].triples
    assert ("Marek Lindqvist", "joined", "Halvard Freight") in triples
    assert not any(s == "Corvane Analytics" for s, _, _ in triples)  # the company did not join anything
    pair = RuleExtractor().extract(["Anna Berg and Olaf Dahl founded Kettle Labs."])[0].triples
    assert ("Olaf Dahl", "founded", "Kettle Labs") in pair and not any(s == "Anna Berg" and r != "and" for s, r, _ in pair)
    moved = RuleExtractor().extract(["Marek Lindqvist left Corvane Analytics to join Halvard Freight."])[0].triples
    assert ("Marek Lindqvist", "joins", "Halvard Freight") in moved


def test_a_relative_clause_gives_its_verb_and_a_bare_date_relates_nothing():
    triples = RuleExtractor().extract(["Mirela Dobos works for Anvil Pharma, which was founded by Lionel Grieve in 1994."])[0].triples
    assert ("Anvil Pharma", "was founded by", "Lionel Grieve") in triples
    assert not any(o == "1994" for _, _, o in triples)  # the founding's year, not Lionel Grieve's
    inner = RuleExtractor().extract(["Tomas Hale, who lives in Oslo, works for Brisk Ltd."])[0].triples
    assert ("Tomas Hale", "works for", "Brisk Ltd") in inner and not any(s == "Oslo" for s, _, _ in inner)
    apposition = RuleExtractor().extract(["Berlin, located in Germany, hosts Kite Labs."])[0].triples
    assert ("Berlin", "located in", "Germany") in apposition


def test_a_role_from_its_holders_side_is_the_fact_of_what_it_is_of():
    triples = RuleExtractor().extract(["In 2020 Tomas Brenn became CEO of Kettle & Finch."])[0].triples
    assert triples == [("Kettle & Finch", "CEO of", "Tomas Brenn")]
    capital = RuleExtractor().extract(["Paris is the capital of France."])[0].triples
    assert capital == [("Paris", "is the capital of", "France")]  # a place, not a role
    new = RuleExtractor().extract(["Tobias Reade is the new mayor of Port Averne."])[0].triples
    assert new == [("Port Averne", "mayor of", "Tobias Reade")]
    former = RuleExtractor().extract(["Tobias Reade is the former mayor of Port Averne."])[0].triples
    assert former == [("Tobias Reade", "is the former mayor of", "Port Averne")]  # no longer the holder


def test_a_possessive_names_its_owner_and_leaves_the_relation():
    triples = RuleExtractor().extract(["Port Averne's mayor is Celia Fenwright. Its harbour master is Ivo Lusk."])[0]
    assert ("Port Averne", "mayor is", "Celia Fenwright") in triples.triples
    assert ("Port Averne", "harbour master is", "Ivo Lusk") in triples.triples
    assert "Port Averne" in triples.entities


def test_a_sentence_opening_with_the_noun_of_a_name_is_about_that_name():
    dam = RuleExtractor().extract(["Marrow Lake is a reservoir. It was made when the Tessary Dam was built. "
                                   "The dam was designed by Hugo Rennick."])[0].triples
    assert ("Tessary Dam", "was designed by", "Hugo Rennick") in dam  # "Dam" ends the name
    company = RuleExtractor().extract(["Kestrel Works is a British engineering company based in Leeds. "
                                       "The company's chief executive is Ana Brisk."])[0].triples
    assert ("Kestrel Works", "chief executive is", "Ana Brisk") in company  # said to be a company
    freight = RuleExtractor().extract(["Hollin Freight is a shipping company headquartered in Port Averly. "
                                       "The company was founded in 1956 by the sailor Jory Thane."])[0].triples
    assert ("Hollin Freight", "was founded by", "Jory Thane") in freight  # a company, "headquartered in" after it
    unknown = RuleExtractor().extract(["Kestrel Works is based in Leeds. The band was formed by Ivo Lusk."])[0].triples
    assert all(t[0] != "Kestrel Works" or t[2] != "Ivo Lusk" for t in unknown)  # no name is a band


def test_an_agent_after_a_date_is_the_named_things_and_whose_is_a_possessive():
    press = RuleExtractor().extract(["Corrin Press is a publishing house founded in 1962 by Ada Lorne."])[0].triples
    assert ("Corrin Press", "founded by", "Ada Lorne") in press
    assert not any(s == "1962" for s, _, _ in press)  # the year founded nothing
    tower = RuleExtractor().extract(["Ostrel Tower is a lighthouse. It was built in 1874 by the architect Jan Oss."])[0]
    assert ("Ostrel Tower", "was built by", "Jan Oss") in tower.triples  # a pronoun's, and "by the <role>"
    assert not any(s == "1874" for s, _, _ in tower.triples)
    club = RuleExtractor().extract(["The race is organised by the Pell Sailing Club, whose president is Dana Voss."])[0]
    assert ("Pell Sailing Club", "president is", "Dana Voss") in club.triples


def test_a_surname_alone_stands_for_the_one_full_name_of_the_passage_that_ends_in_it():
    novel = RuleExtractor().extract(["Quarry Lane is a novel by Nina Castell. Castell was born in Tarrow."])[0].triples
    assert ("Nina Castell", "was born in", "Tarrow") in novel
    two = RuleExtractor().extract(["Paul Smith met John Smith. Smith was born in Leeds."])[0].triples
    assert ("Smith", "was born in", "Leeds") in two  # which Smith is not known


def test_a_rule_triple_overrides_the_models_object_for_its_subject_and_relation_and_its_relation_for_its_names():
    ruled = [("Morrow Line", "was opened in", "1889"), ("Morrow Line", "closed in", "1957"),
             ("Quarry Lane", "is set in the village of", "Ambleby"), ("Port Calder", "is twinned with", "Douarnenez"),
             ("Corvan Ironworks", "is a foundry located in", "Middlefield")]
    guessed = [("The Morrow Line", "opened in", "1957"), ("Quarry Lane", "set in", "Tarrow"),
               ("The Morrow Line", "built by", "Thomas Gale"), ("Port Calder", "located in", "Douarnenez"),
               ("Douarnenez", "twin town of", "Port Calder"), ("Corvan Ironworks", "located in", "Middlefield")]
    assert rules_win(guessed, ruled) == [("The Morrow Line", "built by", "Thomas Gale"),  # the rules say nothing
                                         ("Corvan Ironworks", "located in", "Middlefield")]  # the text's own words
    sold = [("Glenmore Distillery", "is owned by", "Ardent Spirits"), ("Glenmore Distillery", "is in", "Speyside")]
    assert rules_win(sold, [("Glenmore Distillery", "was bought by", "Highland Cask")]) == sold[1:]  # one owner group


def test_a_date_is_nothing_by_a_copula():
    born = RuleExtractor().extract(["Beatrix Collum (born 1980) is a Welsh cellist."])[0].triples
    assert ("Beatrix Collum", "born", "1980") in born and not any(s == "1980" for s, _, _ in born)


def test_a_pronoun_after_an_adverb_of_time_stands_for_the_previous_subject():
    castle = RuleExtractor().extract(["Castle Orrin is a ruined castle. Today it is owned by the Welby Trust."])[0]
    assert ("Castle Orrin", "is owned by", "Welby Trust") in castle.triples


def test_the_noun_of_a_name_opens_a_sentence_in_the_present_tense_too():
    ensemble = RuleExtractor().extract(["The Sundstrom Ensemble is a chamber orchestra based in Rellik. "
                                        "The ensemble performs at the Ostgate Hall."])[0]
    assert ("Sundstrom Ensemble", "performs at", "Ostgate Hall") in ensemble.triples


def test_a_year_before_a_noun_describes_it_and_the_names_around_it_relate():
    film = RuleExtractor().extract(["The Amber Corridor is a 1974 American film directed by Halvard Senn. "
                                    "The film won the Golden Heron in 1975."])[0].triples
    assert ("Amber Corridor", "is a 1974 American film directed by", "Halvard Senn") in film
    assert ("Amber Corridor", "won", "Golden Heron") in film  # "The film" with an irregular past tense
    assert not any("1974" in (s, o) for s, _, o in film)


def test_a_peoples_adjective_before_a_noun_is_a_nationality_and_a_name_before_a_preposition_stays_a_name():
    vasko = RuleExtractor().extract(["Emeric Vasko is a Hungarian violinist. He won an Academy Award for Best Score. "
                                     "He is an Irish citizen."])[0].triples
    assert ("Emeric Vasko", "nationality is", "Hungarian") in vasko
    assert ("Emeric Vasko", "nationality is", "Irish") in vasko
    assert ("Emeric Vasko", "won", "Academy Award") in vasko


def test_a_description_too_long_for_one_relation_still_relates_what_follows_the_adjective():
    diogo = RuleExtractor().extract(["Nuno Diogo is a Portuguese professional footballer who plays as a central "
                                     "defender for Vitoria Club."])[0].triples
    assert ("Nuno Diogo", "nationality is", "Portuguese") in diogo
    assert ("Nuno Diogo", "plays for", "Vitoria Club") in diogo  # its last clause, past the role
    assert ("Nuno Diogo", "plays as", "central defender") in diogo
    pell = RuleExtractor().extract(["Gannet Reach is a 1986 American science fiction horror comedy film written and "
                                    "directed by Ivo Pell."])[0].triples
    assert ("Gannet Reach", "written and directed by", "Ivo Pell") in pell
    assert not any(s == "American" for s, _, _ in diogo + pell)


def test_what_follows_a_parenthesis_is_said_of_the_name_before_it():
    triples = RuleExtractor().extract([
        "Ana Sousa (born 12 May 1960 in Lisbon) is a Portuguese painter. "
        "Karl Brenner (1901–1977) was a German architect who designed the Hallstadt Tower. "
        "Borg Harbour Airport (Arabic: Matar Burj) (IATA: HBE) is an airport in Alexandria."])[0].triples
    assert ("Ana Sousa", "nationality is", "Portuguese") in triples
    assert ("Karl Brenner", "nationality was", "German") in triples
    assert ("Karl Brenner", "designed", "Hallstadt Tower") in triples  # the description's clause relates
    assert ("Borg Harbour Airport", "is an airport in", "Alexandria") in triples
    assert not any(s in ("Lisbon", "1977", "HBE", "Arabic") for s, _, _ in triples)


def test_a_place_after_a_date_is_where_it_happened_and_a_kind_is_read_past_a_parenthesis():
    triples = RuleExtractor().extract(["Maren Tollefsen (born 3 March 1948 in Bergen) died on 2 May 2001 in Voss. "
                                       "Harrowgate Mills (officially Harrowgate Mills Limited) is a textile company. "
                                       "The company is owned by Brackwell Holdings."])[0].triples
    assert ("Maren Tollefsen", "born in", "Bergen") in triples
    assert ("Maren Tollefsen", "died in", "Voss") in triples  # the name before the parenthesis died
    assert ("Harrowgate Mills", "is owned by", "Brackwell Holdings") in triples  # "The company"
    assert not any(s in ("Bergen", "3 March 1948") for s, _, _ in triples)


def test_an_adverbial_opening_a_sentence_leaves_the_subject_after_it():
    triples = RuleExtractor().extract(["Tallow Bridge is a bridge in Exmoor. "
                                       "Since 1975 the bridge has been maintained by Devon Council. "
                                       "Kellan Rusk is a footballer. From 2010 to 2014 he played for Dunmore Rovers. "
                                       "After the Second World War, Kellan Rusk coached Marl United. "
                                       "A veteran of Nordic Film, he won the Gull Prize."])[0].triples
    assert ("Tallow Bridge", "has been maintained by", "Devon Council") in triples
    assert ("Kellan Rusk", "played for", "Dunmore Rovers") in triples
    assert ("Kellan Rusk", "coached", "Marl United") in triples
    assert ("Kellan Rusk", "won", "Gull Prize") in triples  # "he", not Nordic Film
    assert not any(s in ("1975", "2010", "Second World War", "Nordic Film") for s, _, _ in triples)


def test_the_subject_goes_on_with_a_definite_description_and_never_becomes_a_nationality():
    triples = RuleExtractor().extract(["The Vale Academy is a school in Marl. Graduating students could enroll at "
                                       "Marl College. The academy closed in 1900. It is now the headquarters of "
                                       "Marl Museum. Mira Kolb (born 2 May 1970; died 2010) is a German painter. "
                                       "She studied at Berlin Academy."])[0].triples
    assert ("Vale Academy", "is now the headquarters of", "Marl Museum") in triples  # "It": the academy
    assert ("Mira Kolb", "studied at", "Berlin Academy") in triples  # "She": not "German"


def test_two_dates_or_numbers_side_by_side_make_no_fact():
    triples = RuleExtractor().extract(["Ola Brandt was mayor of Tollbury from 1990 to 1998. The town grew between "
                                       "2000 and 2008 to 41,000 people."])[0].triples
    assert not any(s in ("1990", "2000", "2008") for s, _, _ in triples), triples


def test_a_general_noun_stands_for_a_name_of_its_kind_and_a_clause_with_a_pronoun_is_the_persons():
    maker = RuleExtractor().extract(["Veldhoven Aeroworks is a Dutch aircraft manufacturer founded in 1952 by "
                                     "Pieter Aalders. Since 2009 the company has been a subsidiary of Stromberg "
                                     "Industries."])[0]
    assert ("Veldhoven Aeroworks", "has been a subsidiary of", "Stromberg Industries") in maker.triples
    assert ("Veldhoven Aeroworks", "founded by", "Pieter Aalders") in maker.triples  # not Dutch's
    chemist = RuleExtractor().extract(["Ottilie Brandt was a chemist. In 1931 she joined Hallesche Farbwerke, "
                                       "where she developed the dye Brandt Blue."])[0]
    assert ("Ottilie Brandt", "developed the dye", "Brandt Blue") in chemist.triples
    assert not any(s == "Hallesche Farbwerke" for s, _, _ in chemist.triples)


def test_a_model_triple_that_only_says_what_its_subject_is_is_no_fact():
    answer = ('{"triples": [["Port Calder", "is", "Fishing Town"], ["Port Calder", "is a", "town"], '
              '["Port Calder", "lies at", "River Annet"]]}')
    assert guessed_triples(answer) == [("Port Calder", "lies at", "River Annet")]


def test_a_means_after_a_date_stays_in_the_relation():
    lake = RuleExtractor().extract(["Lake Ferrow is a reservoir. It was created in 1936 by damming the River Lune."])[0]
    assert ("Lake Ferrow", "was created by damming", "River Lune") in lake.triples


def test_a_deed_whose_object_is_a_common_noun_is_read_but_not_an_adverb_or_a_count():
    chemist = RuleExtractor().extract(["Agnes Moray was a Scottish chemist who discovered moraite. She played cello "
                                       "and taught at Harwick College. She played professionally for ten years."])[0]
    assert ("Agnes Moray", "discovered", "moraite") in chemist.triples
    assert ("Agnes Moray", "played", "cello") in chemist.triples
    assert not any(o in ("professionally", "ten years") for _, _, o in chemist.triples)


def test_a_size_is_the_measured_things_and_not_a_bare_number():
    stone, river, tower, viaduct = RuleExtractor().extract([
        "The Marrowby Stone is a standing stone. It was raised during the Bronze Age and is about four metres tall.",
        "The Varn River, which rises in the Kessel Hills, is 410 km long.",
        "The Eiffel Tower is 330 metres (1,083 ft) tall. The tower was built by Gustave Eiffel.",
        "The Corrie Viaduct is a railway bridge. The viaduct is 410 metres long and carries the Highland Main Line."])
    assert ("Marrowby Stone", "height is", "about four metres") in stone.triples
    assert ("Varn River", "length is", "410 km") in river.triples
    assert ("Eiffel Tower", "height is", "330 metres") in tower.triples
    assert not any(o == "330" for _, _, o in tower.triples)  # "X is 330": the number was the size's
    assert ("Corrie Viaduct", "length is", "410 metres") in viaduct.triples  # "The viaduct" stands for it
    assert ("Corrie Viaduct", "carries", "Highland Main Line") in viaduct.triples  # a verb after the size
    assert not any("410" in (s, o) for s, _, o in viaduct.triples)
    tunnel = RuleExtractor().extract(["The Selvik Tunnel is a road tunnel. The tunnel is 5.2 kilometres long and "
                                      "opened in 2009."])[0]
    assert ("Selvik Tunnel", "opened in", "2009") in tunnel.triples


def test_a_place_that_ends_a_thing_of_it_is_not_taken_for_a_surname():
    cellist = RuleExtractor().extract(["Sabine Laurent is a French cellist. She was born in Lyon. Laurent has played "
                                       "with the Orchestre de Lyon since 2005."])[0]
    assert ("Sabine Laurent", "was born in", "Lyon") in cellist.triples
    assert ("Sabine Laurent", "has played with", "Orchestre de Lyon") in cellist.triples


def test_a_later_clause_after_and_is_the_relation_but_two_participles_share_one():
    firm, film = RuleExtractor().extract([
        "Quillon Foods is a food company. The company makes frozen seafood and is a subsidiary of Maritime Holdings.",
        "Dark Harbour is a film. It was written and directed by Lena Moss."])
    assert ("Quillon Foods", "is a subsidiary of", "Maritime Holdings") in firm.triples
    assert ("Quillon Foods", "makes", "frozen seafood") in firm.triples  # the opening "The company" is the maker
    assert ("Dark Harbour", "was written and directed by", "Lena Moss") in film.triples


def test_a_deed_in_a_sentence_without_names_is_the_pronouns():
    brewery = RuleExtractor().extract(["Harrow Ales is a brewery in Leeds. It brews pale ale. It made its name "
                                       "once."])[0]
    assert ("Harrow Ales", "brews", "pale ale") in brewery.triples
    label = RuleExtractor().extract(["Fernwood Records is a record label. The label releases folk and bluegrass "
                                     "music."])[0]
    assert ("Fernwood Records", "releases", "folk") in label.triples
    assert not any(r == "made" for _, r, _ in brewery.triples)


def test_a_date_after_a_place_is_dated_by_the_verb_before_the_place():
    firm = RuleExtractor().extract(["Orrin & Pell is a British clockmaker founded in London in 1821 by Samuel Orrin "
                                    "and James Pell. The firm built the clock of St Aldwyn's Church. Since 1998 it "
                                    "has been owned by the Hartwell Group."])[0]
    assert {("Orrin & Pell", "founded by", "Samuel Orrin"), ("Orrin & Pell", "founded by", "James Pell")} \
        <= set(firm.triples)
    assert ("Orrin & Pell", "built the clock of", "St Aldwyn's Church") in firm.triples  # "The firm": a -maker
    assert ("Orrin & Pell", "has been owned by", "Hartwell Group") in firm.triples


def test_names_may_open_with_an_accented_capital():
    director = RuleExtractor().extract(["Tomasz Wierzbicki is a film director. He graduated from the Łódź Film "
                                        "School. Émile Zola was born in Paris."])[0]
    assert ("Tomasz Wierzbicki", "graduated from", "Łódź Film School") in director.triples
    assert ("Émile Zola", "was born in", "Paris") in director.triples


def test_a_coordinated_irregular_past_is_the_subjects():
    chemist = RuleExtractor().extract(["Agnes Moray was a chemist. She was born in Dundee and taught at "
                                       "Harwick College."])[0]
    assert ("Agnes Moray", "taught at", "Harwick College") in chemist.triples


def test_a_semicolon_or_abbreviation_inside_parentheses_does_not_end_the_sentence():
    painter = RuleExtractor().extract(["Anna Berg (née Lund; c. 1901–1980) was a Swedish painter who studied "
                                       "in Paris."])[0]
    assert ("Anna Berg", "studied in", "Paris") in painter.triples
    assert ("Anna Berg", "nationality was", "Swedish") in painter.triples
    open_paren = RuleExtractor().extract(["Ola Dahl (born in Oslo. He later moved to Bergen. He taught at "
                                          "Bergen School."])[0]
    assert ("Ola Dahl", "taught at", "Bergen School") in open_paren.triples  # never closed: the cuts stay


def test_an_opening_participle_is_said_of_the_subject_after_it_and_a_role_played_as_is_read():
    brewery = RuleExtractor().extract(["Founded in 1898, Hallam Brewery is based in Sheffield."])[0].triples
    assert ("Hallam Brewery", "founded in", "1898") in brewery
    assert ("Hallam Brewery", "is based in", "Sheffield") in brewery
    painter = RuleExtractor().extract(["Niamh Foley is a painter. Born in Cork, she moved to London."])[0].triples
    assert ("Niamh Foley", "born in", "Cork") in painter and not any(s == "Born" for s, _, _ in painter)
    unclear = RuleExtractor().extract(["Born in Christchurch, New Zealand, Ann Lee moved to Perth."])[0].triples
    assert not any(r == "born in" for _, r, _ in unclear)
    viaduct = RuleExtractor().extract(["The Sorrel Viaduct is a railway viaduct. Designed by the engineer Walter "
                                       "Pryce, it was completed in 1868."])[0].triples
    assert ("Sorrel Viaduct", "designed by", "Walter Pryce") in viaduct
    assert ("Sorrel Viaduct", "was completed in", "1868") in viaduct
    keeper = RuleExtractor().extract(["Peter Strand plays for Molde FK as a goalkeeper."])[0].triples
    assert ("Peter Strand", "plays as", "goalkeeper") in keeper


def test_the_items_of_a_list_share_its_relation_but_a_functional_ones_place_stays_one():
    series = RuleExtractor().extract(["Lovers of Music is a television series starring Jung Eun-ji, Ji Hyun-woo and "
                                      "Lee Se-young."])[0].triples
    assert {o for s, r, o in series if r.endswith("starring")} == {"Jung Eun-ji", "Ji Hyun-woo", "Lee Se-young"}
    born = RuleExtractor().extract(["Ana Sousa was born in Porto, Portugal."])[0].triples
    assert born == [("Ana Sousa", "was born in", "Porto")]  # one birthplace: "Portugal" is where Porto is
    castle = RuleExtractor().extract(["Brennock Castle is a ruined castle in County Kerry, Ireland."])[0].triples
    assert castle == [("Brennock Castle", "is a ruined castle in", "County Kerry")]  # a place and where it is
    cities = RuleExtractor().extract(["Ada Ek lives in Oslo. Oslo, Bergen and Tromsø are cities."])[0].triples
    assert ("Ada Ek", "lives in", "Bergen") not in cities  # a list goes on a relation of its own sentence only


def test_a_participle_after_a_comma_is_the_actors():
    mayor = RuleExtractor().extract(["Tomas Wren is a politician. He was elected in 2018, succeeding Alice Pym."])[0]
    assert ("Tomas Wren", "succeeding", "Alice Pym") in mayor.triples


def test_a_place_after_a_date_or_month_is_the_deeds_and_a_coordinated_verb_after_an_adverb_the_actors():
    ship = RuleExtractor().extract(["The Harrow Star was a cargo ship built in 1958 at a shipyard in Sunderland."])[0]
    assert ("Harrow Star", "built at a shipyard in", "Sunderland") in ship.triples
    fair = RuleExtractor().extract(["The Velmora Festival is held every August in the town of Kestrup."])[0]
    assert ("Velmora Festival", "held in the town of", "Kestrup") in fair.triples
    assert not any(s == "August" for s, _, _ in fair.triples)  # a month is a time, no one's name
    lake = RuleExtractor().extract(["Lake Orrin is a reservoir. It was formed in 1962 when the Orrin Dam was "
                                    "completed."])[0]
    assert ("Lake Orrin", "was formed when", "Orrin Dam") in lake.triples
    chemist = RuleExtractor().extract(["Mia Okafor is a chemist. She studied at the University of Ibadan and "
                                       "later completed her doctorate in Manchester."])[0]
    assert ("Mia Okafor", "completed her doctorate in", "Manchester") in chemist.triples


def test_the_actors_own_research_or_work_on_a_common_noun_is_a_fact():
    chemist = RuleExtractor().extract(["Mia Okafor is a chemist. In 2019 she won the Davy Medal for her research on "
                                       "battery materials."])[0]
    assert ("Mia Okafor", "research on", "battery materials") in chemist.triples
    other = RuleExtractor().extract(["Mia Okafor is a chemist. Tom Hale praised her work on the history of trade."])[0]
    assert not any(r == "work on" for _, r, _ in other.triples)  # "history of trade" is more than the rule reads


def test_the_noun_that_opens_a_name_stands_for_it_after_the():
    lake = RuleExtractor().extract(["Lake Orrin is a reservoir in the Highlands. The lake supplies water to the "
                                    "city of Inverness."])[0]
    assert ("Lake Orrin", "supplies water to the city of", "Inverness") in lake.triples
    team = RuleExtractor().extract(["Kemi Ade plays for the Houston Rockets. The Houston Rockets are based in "
                                    "Houston."])[0]
    assert not any(r.startswith("Rockets") for _, r, _ in team.triples)  # "The Houston ..." opens a name


def test_a_clause_about_the_noun_an_opening_common_noun_and_a_place_that_ends_a_longer_name():
    bridge = RuleExtractor().extract(["The Corran Bridge is a suspension bridge over the River Tay in Scotland. "
                                      "Construction began in 1959 and the bridge was opened by Queen Elizabeth II. "
                                      "It carries the A92 road and is maintained by Transport Scotland."])[0]
    assert ("Corran Bridge", "was opened by", "Queen Elizabeth II") in bridge.triples  # "and the bridge ..."
    assert ("Corran Bridge", "carries", "A92") in bridge.triples  # "It": the bridge, not "Construction"
    assert ("Corran Bridge", "is maintained by", "Transport Scotland") in bridge.triples  # "... road and is"
    assert ("River Tay", "in", "Scotland") in bridge.triples  # a place, not "Transport Scotland"
    assert "Construction" not in bridge.entities
    novel = RuleExtractor().extract(["Transition is a novel by Iain Banks."])[0]
    assert ("Transition", "is a novel by", "Iain Banks") in novel.triples
    mayor = RuleExtractor().extract(["Asker is ruled by the conservatives and the mayor is Lene Conradi."])[0]
    assert any(o == "Lene Conradi" for _, _, o in mayor.triples)  # "the mayor" stands for no name: kept whole


def test_a_small_number_after_the_opens_the_name_it_stands_before():
    driver = RuleExtractor().extract(["Mateus Carvalho is a racing driver. He won the 24 Hours of Le Mans in 2021. "
                                      "He won 2 Spa Trophies."])[0]
    assert ("Mateus Carvalho", "won", "24 Hours of Le Mans") in driver.triples
    assert "2 Spa Trophies" not in driver.entities  # a count, not a name


def test_an_agent_after_a_deeds_place_or_date_a_second_description_and_a_verb_after_a_phrase_are_the_actors():
    press = RuleExtractor().extract(["Kelda Press was founded in 1976 in Dublin by the poet Aoife Brennan."])[0]
    assert ("Kelda Press", "founded by", "Aoife Brennan") in press.triples
    assert not any(s == "Dublin" for s, _, _ in press.triples)  # the poet founded the press, not Dublin
    album = RuleExtractor().extract(["His album Blue Causeway was recorded in 1957 for Corvid Records."])[0]
    assert ("Blue Causeway", "was recorded for", "Corvid Records") in album.triples
    museum = RuleExtractor().extract(["The Orrin Museum is located in Paris by the Seine."])[0]
    assert not any(r.endswith("by") and s == "Orrin Museum" for s, r, _ in museum.triples)  # where it is, no deed
    ground = RuleExtractor().extract(["Fenwick Park is a stadium in Dundee, Scotland, and the home ground of "
                                      "Tayside Rovers."])[0]
    assert ("Fenwick Park", "is the home ground of", "Tayside Rovers") in ground.triples
    writer = RuleExtractor().extract(["Priya Raghunathan is a novelist. She lives in Pune with her two children and "
                                      "writes in Marathi."])[0]
    assert ("Priya Raghunathan", "writes in", "Marathi") in writer.triples


def test_a_role_of_one_year_is_the_subjects():
    prize = RuleExtractor().extract(["The Brightwater Prize is a literary award. "
                                     "The 2024 winner was Mairead Quinn."])[0]
    assert ("Brightwater Prize", "2024 winner was", "Mairead Quinn") in prize.triples
    alone = RuleExtractor().extract(["The 2024 winner was Mairead Quinn."])[0]
    assert not any(s == "Brightwater Prize" for s, _, _ in alone.triples)  # no subject before it: no one's


def test_a_present_verb_after_a_description_between_commas_is_the_actors():
    fair = RuleExtractor().extract(["The Vell Festival is a celebration in Portugal. It honours Saint Brigida, the "
                                    "town's patron saint, and ends with a procession to Mount Arrel."])[0]
    assert ("Vell Festival", "ends with a procession to", "Mount Arrel") in fair.triples
    assert not any(s == "Saint Brigida" for s, _, _ in fair.triples)


def test_a_later_clause_about_the_actors_own_thing_is_the_actors():
    town = RuleExtractor().extract(["Corvina Bay is a town in Spain. Its economy depends on fishing and tourism, "
                                    "and its mayor is Lucia Benitez."])[0]
    assert ("Corvina Bay", "mayor is", "Lucia Benitez") in town.triples
    singer = RuleExtractor().extract(["Ada Olsen is a singer. Her first album was recorded in Oslo and her husband "
                                      "is Jonas Lie."])[0]
    assert ("Ada Olsen", "husband is", "Jonas Lie") in singer.triples
    assert not any(s == "Oslo" for s, _, _ in singer.triples)


def test_a_where_clause_after_a_place_tells_what_the_actor_did_there():
    physicist = RuleExtractor().extract(["Anselm Kroeger was a physicist. He later moved to Zurich, where he died "
                                         "in 1977."])[0]
    assert ("Anselm Kroeger", "died in", "Zurich") in physicist.triples
    city = RuleExtractor().extract(["Anselm Kroeger later moved to Zurich, where the bank is based."])[0]
    assert not any(r == "died in" for _, r, _ in city.triples)


def test_a_month_before_on_is_no_part_of_the_place_and_a_verb_after_lower_case_words_and_and_is_the_actors():
    race = RuleExtractor().extract(["The Ardent Cup is a sailing race held each July on Lake Geneva. The current "
                                    "holder is the yacht Alouette."])[0]
    assert ("Ardent Cup", "held on", "Lake Geneva") in race.triples
    assert ("Ardent Cup", "current holder is the yacht", "Alouette") in race.triples
    town = RuleExtractor().extract(["Stoke on Trent is a city in England."])[0]
    assert "Stoke on Trent" in town.entities  # a name joined by "on" still is one
    mill = RuleExtractor().extract(["Pemberton Mills was a cotton mill. It was owned by the Pemberton family and "
                                    "closed in 1962."])[0]
    assert ("Pemberton Mills", "closed in", "1962") in mill.triples
    assert not any(s == "Pemberton" for s, _, _ in mill.triples)


def test_the_x_family_is_one_name():
    mill = RuleExtractor().extract(["Pemberton Mills was a cotton mill. It was owned by the Pemberton family."])[0]
    assert ("Pemberton Mills", "was owned by", "Pemberton family") in mill.triples
    hotels = RuleExtractor().extract(["Crowne Plaza is part of the Aldane Hotels family of brands."])[0]
    assert "Aldane Hotels family" not in hotels.entities  # a family of things, not of people


def test_it_after_a_persons_sentence_stands_for_the_thing_before_and_there_for_it():
    farm = RuleExtractor().extract(["Mossgiel Farm is a farm near Mauchline. The poet Robert Burns lived there from "
                                    "1784 to 1788. It is now owned by the National Trust."])[0]
    assert ("Mossgiel Farm", "is now owned by", "National Trust") in farm.triples
    assert ("Robert Burns", "lived at", "Mossgiel Farm") in farm.triples
    museum = RuleExtractor().extract(["The Blue House is a museum. The painter Ada Lind moved to Oslo and lived "
                                      "there."])[0]
    assert not any(r == "lived at" for _, r, _ in museum.triples)  # "there" is Oslo


def test_a_description_before_an_irregular_participle_names_the_kind_the_passage_calls_it_by():
    race = RuleExtractor().extract(["The Amberfield Marathon is an annual road race held each October. The race "
                                    "is sponsored by the Maplecrest Bank."])[0]
    assert ("Amberfield Marathon", "is sponsored by", "Maplecrest Bank") in race.triples


def test_a_peoples_adjective_before_a_role_and_a_name_is_the_names_nationality():
    race = RuleExtractor().extract(["The Amberfield Marathon was first run in 1987, and the course record is held "
                                    "by the Kenyan runner Paul Kiprono."])[0]
    assert ("Paul Kiprono", "nationality is", "Kenyan") in race.triples
    assert ("Amberfield Marathon", "course record is held by", "Paul Kiprono") in race.triples
    assert not any(o == "Kenyan" and s != "Paul Kiprono" for s, _, o in race.triples)


def test_a_place_after_a_peoples_adjective_and_a_noun_of_is_the_place():
    lake = RuleExtractor().extract(["Lake Tessaly is a freshwater lake in the Canadian province of Manitoba."])[0]
    assert ("Lake Tessaly", "is a freshwater lake in", "Manitoba") in lake.triples
    assert not any("Canadian" in (s, o) for s, _, o in lake.triples)  # no people's, no place "Canadian"


def test_a_year_right_after_the_place_of_a_deed_dates_the_deed():
    vell = RuleExtractor().extract(["Ada Vell was born in Leipzig in 1875. She earned her doctorate at Oxford "
                                    "University in 1901."])[0]
    assert {("Ada Vell", "was born in", "1875"), ("Ada Vell", "earned her doctorate in", "1901"),
            ("Ada Vell", "was born in", "Leipzig")} <= set(vell.triples)


def test_the_series_stands_for_a_name_said_to_be_a_drama():
    drama = RuleExtractor().extract(["Quarry Lane is a British television drama. The series starred Martin Keogh."])[0]
    assert ("Quarry Lane", "starred", "Martin Keogh") in drama.triples


def test_a_role_between_plays_and_for_leaves_plays_for_and_plays_as():
    keeper = RuleExtractor().extract(["Jonas Brekke is a Danish footballer who plays as a defender for Vejle "
                                      "Boldklub."])[0]
    assert {("Jonas Brekke", "plays for", "Vejle Boldklub"), ("Jonas Brekke", "plays as", "defender")} \
        <= set(keeper.triples)


def test_a_move_from_a_place_is_the_movers_not_the_destinations():
    move = RuleExtractor().extract(["Hanna Lind is a Swedish striker. In 2021 she joined Hammarby from Djurgarden."])[0]
    assert ("Hanna Lind", "joined Hammarby from", "Djurgarden") in move.triples
    assert not any(s == "Hammarby" for s, _, _ in move.triples)


def test_a_clause_before_it_joins_after_a_measure_is_the_subjects():
    river = RuleExtractor().extract(["The Marle is a river in Kent. It flows for 21 kilometres before it joins the "
                                     "River Medway."])[0]
    assert ("Marle", "flows into", "River Medway") in river.triples  # where a river flows, it joins its mouth
    assert ("Marle", "length is", "21 kilometres") in river.triples
    assert not any(s == "21" for s, _, _ in river.triples)
    road = RuleExtractor().extract(["The A61 is a road in Yorkshire. It runs north from Sheffield until it reaches "
                                    "Leeds."])[0]
    assert ("A61", "reaches", "Leeds") in road.triples


def test_roles_before_the_names_after_by_are_the_things_and_both_did_the_deed():
    band = RuleExtractor().extract(["The Lamp Keepers are a Scottish folk band from Perth. The band was formed in "
                                    "2009 by singer Moira Baird and fiddler Ewan Kerr and drummer Ross Niven."])[0]
    assert {("Lamp Keepers", "was formed by", "Moira Baird"), ("Lamp Keepers", "singer is", "Moira Baird"),
            ("Lamp Keepers", "drummer is", "Ross Niven")} <= set(band.triples)
    assert not any(s in ("Moira Baird", "Ewan Kerr") for s, _, _ in band.triples)  # no "and drummer" facts


def test_the_group_stands_for_a_quartet_and_a_role_goes_to_no_one_named_after_by():
    quartet = RuleExtractor().extract(["The Harbour Lanterns are a Welsh string quartet from Cardiff. The group was "
                                       "formed in 2015 by violinist Carys Pugh and cellist Owen Rees."])[0]
    assert {("Harbour Lanterns", "was formed by", "Carys Pugh"), ("Harbour Lanterns", "cellist is", "Owen Rees")} \
        <= set(quartet.triples)
    unknown = RuleExtractor().extract(["The collective was founded in 2013 by pianist Ada Moss and drummer Ben "
                                       "Tull."])[0]
    assert not any(s == "Ada Moss" for s, _, _ in unknown.triples)


def test_a_role_between_works_and_at_stays_in_the_relation():
    kofi = RuleExtractor().extract(["Ama Boateng is a Ghanaian lawyer who works as general counsel at Volta "
                                    "Cement."])[0]
    assert ("Ama Boateng", "works as general counsel at", "Volta Cement") in kofi.triples


def test_what_a_thing_is_known_for_and_a_deed_after_its_founder_are_its_own():
    yard = RuleExtractor().extract(["Harnett Marine is a Danish shipbuilder. It was founded in 1930 by Ole Harnett "
                                    "and builds tugboats. It is best known for its icebreakers."])[0]
    assert {("Harnett Marine", "builds", "tugboats"), ("Harnett Marine", "is known for", "icebreakers")} \
        <= set(yard.triples)


def test_a_name_of_two_fields_joined_by_and_is_one_name():
    school = RuleExtractor().extract(["Orla Quinn studied at the Cork College of Music and Drama in Cork."])[0]
    assert ("Orla Quinn", "studied at", "Cork College of Music and Drama") in school.triples


def test_on_the_banks_of_after_a_place_and_its_country_is_the_towns():
    town = RuleExtractor().extract(["Birch Ford is a village in Maine, United States, on the banks of the Saco "
                                    "River."])[0]
    assert ("Birch Ford", "on the banks of", "Saco River") in town.triples


def test_a_common_noun_agent_and_a_clause_with_it_after_a_name_are_the_subjects():
    ship = RuleExtractor().extract(["The SS Marlow was a British cargo ship. She sailed in the Atlantic and was sunk "
                                    "by a German submarine off Ireland in 1917."])[0]
    assert ("SS Marlow", "was sunk by", "German submarine") in ship.triples
    assert ("SS Marlow", "was sunk by", "German") not in ship.triples
    college = RuleExtractor().extract(["Ashby College is a college in Leeds. Its principal is Ruth Kay, a historian, "
                                       "and it has about 4,000 students."])[0]
    assert ("Ashby College", "has about", "4,000") in college.triples


def test_a_verb_coordinated_after_a_place_or_a_count_is_the_actors():
    poet = RuleExtractor().extract(["Ilse Varga is a Hungarian poet. She was raised in Pecs and now lives in "
                                    "Szeged."])[0]
    assert ("Ilse Varga", "lives in", "Szeged") in poet.triples
    assert not any(s == "Pecs" for s, _, _ in poet.triples)
    tram = RuleExtractor().extract(["The Orvale Tram is a tram line in Lyon. It runs for 9 kilometres and is "
                                    "operated by Keolis. It was rebuilt in 2011 in Vienne and can carry 200 "
                                    "riders."])[0]
    assert ("Orvale Tram", "is operated by", "Keolis") in tram.triples
    assert ("Orvale Tram", "can carry", "200") in tram.triples


def test_a_founder_after_a_place_its_region_and_a_year_and_a_since_after_a_deed():
    label = RuleExtractor().extract(["Redfern Tapes is a record label founded in Tulsa, Oklahoma, in 1988 by the "
                                     "drummer Cal Dorsey."])[0]
    assert ("Redfern Tapes", "founded by", "Cal Dorsey") in label.triples
    press = RuleExtractor().extract(["Gull Books is a publisher. It was set up in 1994 by the poet Ann Rhys."])[0]
    assert ("Gull Books", "was set up by", "Ann Rhys") in press.triples
    mayor = RuleExtractor().extract(["Ruth Aalto is a Finnish politician who has served as mayor of Turku since "
                                     "2017."])[0]
    assert ("Ruth Aalto", "has served as mayor since", "2017") in mayor.triples


def test_a_year_after_a_deeds_object_and_its_nouns_dates_the_deed():
    keeper = RuleExtractor().extract(["Rui Matos is a Portuguese goalkeeper. He made his debut for the Portugal "
                                      "national team in 2019 and moved to Porto in 2021."])[0]
    assert ("Rui Matos", "made his debut in", "2019") in keeper.triples
    assert ("Rui Matos", "moved in", "2021") in keeper.triples
    assert not any(s == "Portugal" for s, _, _ in keeper.triples)


def test_leaving_one_employer_for_another_joins_it_and_a_successor_takes_the_role():
    move = RuleExtractor().extract(["In 2022 Tariq Haddad left Brightline Rail for Corvo Logistics."])[0]
    assert {("Tariq Haddad", "left", "Brightline Rail"), ("Tariq Haddad", "joined", "Corvo Logistics")} \
        <= set(move.triples)
    assert not any(s == "Brightline Rail" for s, _, _ in move.triples)
    former = RuleExtractor().extract(["Ines Roca, formerly of Vesta Air, now works for Dunmore Freight."])[0]
    assert ("Ines Roca", "works for", "Dunmore Freight") in former.triples
    chief = RuleExtractor().extract(["Mina Park succeeded Olaf Berg as the CEO of Tallis Mining."])[0]
    assert ("Tallis Mining", "CEO of", "Mina Park") in chief.triples
    assert not any(s == "Olaf Berg" for s, _, _ in chief.triples)
    passive = RuleExtractor().extract(["Astrid Molnar was succeeded by Gideon Park as CEO of Fenwick "
                                       "Pharmaceuticals."])[0]
    assert ("Fenwick Pharmaceuticals", "CEO of", "Gideon Park") in passive.triples
    stepped = RuleExtractor().extract(["Marisol Quent stepped down as chief executive of Tandry Foods and was "
                                       "succeeded by Leopold Haze."])[0]
    assert ("Tandry Foods", "chief executive of", "Leopold Haze") in stepped.triples
    assert not any(o == "Leopold Haze" and s == "Marisol Quent" for s, _, o in stepped.triples)


def test_moving_to_an_organisation_joins_it_and_moving_to_a_town_is_a_move():
    bank = RuleExtractor().extract(["In 2022 Lena Ross moved to Copperline Bank."])[0]
    assert ("Lena Ross", "joined", "Copperline Bank") in bank.triples
    assert ("Ada Berg", "moved to", "Leeds") in RuleExtractor().extract(["Ada Berg moved to Leeds."])[0].triples
    since = RuleExtractor().extract(["Lucia Ferro has since moved to Skylark Airways."])[0]
    assert since.triples == [("Lucia Ferro", "joined", "Skylark Airways")]


def test_a_move_from_one_place_to_another_and_an_organisation_taking_someone_on():
    transfer = RuleExtractor().extract(["Kwame Adjei was transferred from the Harrowgate Hawks to Bellmoor United."])[0]
    assert ("Kwame Adjei", "transferred to", "Bellmoor United") in transfer.triples
    assert not any(s == "Harrowgate Hawks" for s, _, _ in transfer.triples)
    capital = RuleExtractor().extract(["Ostravia moved its capital from Kelmburg to Draven in 2024."])[0]
    assert ("Ostravia", "moved its capital to", "Draven") in capital.triples
    signed = RuleExtractor().extract(["The Harrowgate Hawks signed striker Kwame Adjei."])[0]
    assert signed.triples == [("Kwame Adjei", "signed with", "Harrowgate Hawks")]
    hired = RuleExtractor().extract(["Norvik Labs hired Ada Berg in 2020."])[0]
    assert ("Ada Berg", "was hired by", "Norvik Labs") in hired.triples
    bought = RuleExtractor().extract(["Felling Holdings bought rival Quintus Harrow in 2021."])[0]
    assert ("Quintus Harrow", "was bought by", "Felling Holdings") in bought.triples
    shares = RuleExtractor().extract(["Ada Berg bought shares of Norvik Labs."])[0]
    assert shares.triples == [("Ada Berg", "bought shares of", "Norvik Labs")]


def test_a_time_that_opens_a_sentence_is_no_subject():
    left = RuleExtractor().extract(["Last spring Teodora Marinescu left Halvard Shipping for Quenby Freight."])[0]
    assert left.triples == [("Teodora Marinescu", "left", "Halvard Shipping"),
                            ("Teodora Marinescu", "joined", "Quenby Freight")]
    later = RuleExtractor().extract(["Two years later, Ada Berg moved to Leeds."])[0]
    assert later.triples == [("Ada Berg", "moved to", "Leeds")]
    show = RuleExtractor().extract(["Today is a morning show hosted by Ada Berg."])[0]
    assert ("Today", "is a morning show hosted by", "Ada Berg") in show.triples  # a name, not a time


def test_a_move_of_house_or_jobs_is_the_movers_and_a_moved_seat_is_its_countrys():
    house = RuleExtractor().extract(["Osric Pennant moved house from Glenmoray to Ashcombe."])[0]
    assert ("Osric Pennant", "moved house to", "Ashcombe") in house.triples
    assert not any(s == "Glenmoray" for s, _, _ in house.triples)
    jobs = RuleExtractor().extract(["Freya Castellan switched jobs from Marlow Textiles to Juniper Freight."])[0]
    assert ("Freya Castellan", "switched jobs to", "Juniper Freight") in jobs.triples
    capital = RuleExtractor().extract(["In 2022 the capital of Velmora was moved to Estrelle."])[0]
    assert capital.triples == [("Velmora", "moved its capital to", "Estrelle")]
    seat = RuleExtractor().extract(["The headquarters of Brannoch Foods were relocated to Perth."])[0]
    assert seat.triples == [("Brannoch Foods", "moved its headquarters to", "Perth")]


def test_a_role_after_a_possessive_is_the_owners():
    chief = RuleExtractor().extract(["Harriet Vance stepped down, and Omar Haddad became Quillon Robotics' CEO."])[0]
    assert ("Quillon Robotics", "CEO of", "Omar Haddad") in chief.triples
    coach = RuleExtractor().extract(["Ingrid Solberg is Bellmoor United's head coach."])[0]
    assert coach.triples == [("Bellmoor United", "head coach of", "Ingrid Solberg")]
    season = RuleExtractor().extract(["Rich Brooks was in his 5th year as Kentucky's head coach."])[0]
    assert not any(r == "head coach of" and s != "Kentucky" for s, r, _ in season.triples)
    named = RuleExtractor().extract(["Vendral Systems named Lukas Brandt its new CEO."])[0]
    assert named.triples == [("Vendral Systems", "CEO of", "Lukas Brandt")]
    appointed = RuleExtractor().extract(["Lowther Brewing appointed Idris Vaughan as chief executive."])[0]
    assert appointed.triples == [("Lowther Brewing", "chief executive of", "Idris Vaughan")]
    hired = RuleExtractor().extract(["The Fenwick Falcons hired Rhiannon Pryce as their new head coach in 2025."])[0]
    assert hired.triples == [("Fenwick Falcons", "head coach of", "Rhiannon Pryce")]
    coaches = RuleExtractor().extract(["Oskar Lindahl now coaches the Fenwick Falcons."])[0]
    assert coaches.triples == [("Fenwick Falcons", "is coached by", "Oskar Lindahl")]
    took_over = RuleExtractor().extract(["Selma Aune took over as manager of Tindra Hotels."])[0]
    assert took_over.triples == [("Tindra Hotels", "manager of", "Selma Aune")]
    elected = RuleExtractor().extract(["Rafael Quint was elected mayor of Stonehaven."])[0]
    assert elected.triples == [("Stonehaven", "mayor of", "Rafael Quint")]
    charge = RuleExtractor().extract(["Ivo Petrakis took charge of the Westmere Philharmonic in March."])[0]
    assert charge.triples == [("Westmere Philharmonic", "is led by", "Ivo Petrakis")]
    board = RuleExtractor().extract(["Beatrix Holloway chairs the board of Grayling Insurance."])[0]
    assert board.triples == [("Grayling Insurance", "is chaired by", "Beatrix Holloway")]
    principal = RuleExtractor().extract(["Larchmont Academy appointed Delphine Oyelaran as principal."])[0]
    assert principal.triples == [("Larchmont Academy", "principal of", "Delphine Oyelaran")]
    playmaker = RuleExtractor().extract(["Xavi became Barcelona's principal playmaker in 2000."])[0]
    assert not any(r == "principal of" for _, r, _ in playmaker.triples)  # a role word before a noun describes it
    conducts = RuleExtractor().extract(["Ivo Petrakis conducts the Westmere Philharmonic."])[0]
    assert conducts.triples == [("Westmere Philharmonic", "is conducted by", "Ivo Petrakis")]
    edits = RuleExtractor().extract(["Ione Castell edits the Daybreak Herald."])[0]
    assert edits.triples == [("Daybreak Herald", "is edited by", "Ione Castell")]
    coached = RuleExtractor().extract(["Oskar Lindahl coached the Fenwick Falcons."])[0]
    assert coached.triples == [("Oskar Lindahl", "coached", "Fenwick Falcons")]  # past: not who coaches them now
    lives = RuleExtractor().extract(["Ingrid Solberg is Bellmoor United's head coach and lives in Leeds."])[0]
    assert ("Ingrid Solberg", "lives in", "Leeds") in lives.triples


def test_a_thing_sold_to_a_buyer_and_a_spouse_named_after_with():
    sold = RuleExtractor().extract(["Koval Media sold the Daybreak Herald to Pelham Press."])[0]
    assert ("Daybreak Herald", "was sold to", "Pelham Press") in sold.triples
    assert ("Daybreak Herald", "to", "Pelham Press") not in sold.triples
    lives = RuleExtractor().extract(["Greta Holm lives in Vasteby with her husband, Anton Holm."])[0]
    assert lives.triples == [("Greta Holm", "lives in", "Vasteby"), ("Greta Holm", "husband of", "Anton Holm")]


def test_a_kin_after_a_possessive_is_the_owners():
    brother = RuleExtractor().extract(["Tom Reyes is Maria Lopez's brother."])[0]
    assert brother.triples == [("Maria Lopez", "brother of", "Tom Reyes")]
    wife = RuleExtractor().extract(["Helena Oduya is Tomasz Wierzba's wife and works for Acme Foods."])[0]
    assert wife.triples == [("Tomasz Wierzba", "wife of", "Helena Oduya"), ("Helena Oduya", "works for", "Acme Foods")]
    in_law = RuleExtractor().extract(["Tom Reyes was Maria Lopez's brother-in-law."])[0]
    assert ("Maria Lopez", "brother of", "Tom Reyes") not in in_law.triples


def test_a_role_given_after_an_auxiliary_an_adverb_or_by_voters_and_one_taken_over_from_its_holder():
    has = RuleExtractor().extract(["Corvane Mills has appointed Petra Lusk as chief executive."])[0]
    assert has.triples == [("Corvane Mills", "chief executive of", "Petra Lusk")]
    voters = RuleExtractor().extract(["Harlow Bay voters chose Enzo Marric as their new mayor."])[0]
    assert voters.triples == [("Harlow Bay", "mayor of", "Enzo Marric")]
    bare = RuleExtractor().extract(["Harlow Bay residents recently elected Enzo Marric mayor."])[0]
    assert bare.triples == [("Harlow Bay", "mayor of", "Enzo Marric")]
    over = RuleExtractor().extract(["Teodor Blaze took over from Petra Lusk as chief executive of Corvane Mills."])[0]
    assert ("Corvane Mills", "chief executive of", "Teodor Blaze") in over.triples
    assert not any(s == "Petra Lusk" for s, _, _ in over.triples)


def test_a_place_called_home_is_where_one_lives_and_a_head_office_is_a_headquarters():
    for text in ("Mirela Dost now calls Lannick Cove home.", "Mirela Dost has made Lannick Cove her home."):
        assert RuleExtractor().extract([text])[0].triples == [("Mirela Dost", "lives in", "Lannick Cove")]
    assert relation_group(normalize_relation("now makes her home in")) == "residence"
    office = RuleExtractor().extract(["Tarrow Optics has its head office in Belling."])[0]
    assert [relation_group(normalize_relation(r)) for _, r, _ in office.triples] == ["headquarters"]
    moved = RuleExtractor().extract(["Tarrow Optics moved its head office from Belling to Castor."])[0]
    assert ("Tarrow Optics", "moved its head office to", "Castor") in moved.triples
    assert relation_group(normalize_relation("moved its head office to")) == "headquarters"
    assert ended_group(normalize_relation("moved its head office from")) == "headquarters"


def test_a_coach_brought_in_after_a_sacking_is_the_clubs_and_a_new_wife_is_a_spouse():
    club = RuleExtractor().extract(["The Orrin Harriers sacked Bea Lund and brought in Tove Hale as head coach."])[0]
    assert ("Orrin Harriers", "head coach of", "Tove Hale") in club.triples
    assert not any(s == "Bea Lund" for s, _, _ in club.triples)
    wife = RuleExtractor().extract(["Anton Pike remarried; his new wife is Vera Kolb."])[0]
    assert [relation_group(normalize_relation(r)) for s, r, o in wife.triples if o == "Vera Kolb"] == ["spouse"]


def test_an_it_after_a_holders_verb_is_what_the_sentence_before_reached_and_a_director_is_one_at_a_time():
    left = RuleExtractor().extract(["Oda Brenn left the Tessaly Institute; Ivo Marsh now directs it."])[0]
    assert ("Tessaly Institute", "director of", "Ivo Marsh") in left.triples
    dated = RuleExtractor().extract(["Oda Brenn joined in 2019. Ivo Marsh runs it."])[0]
    assert not any("Ivo Marsh" in (s, o) for s, _, o in dated.triples)  # a date is nothing that is run
    assert relation_group(normalize_relation("is the director of")) == "director"
    assert relation_group(normalize_relation("was directed by")) is None  # a film's directors stay a list


def test_a_seat_said_with_a_possessive_that_moves_is_the_owners_move():
    for text in ("Carden Rail's headquarters moved to Pembrook last year.", "Ostravia's capital was relocated to Draven."):
        [(subject, relation, obj)] = RuleExtractor().extract([text])[0].triples
        assert relation_group(normalize_relation(relation)) in ("headquarters", "capital")
        assert normalize_relation(relation).startswith("moved its") and subject in text and obj in text


def test_a_changed_holder_player_post_or_place_is_read_from_how_the_change_is_told():
    told = {
        "Ines Marr left Dorring College for a post at Welby University.": ("Ines Marr", "joined", "Welby University"),
        "Ada Quist handed over leadership of the Tarn Mill Company to Pavo Reyes.":
            ("Tarn Mill Company", "is led by", "Pavo Reyes"),
        "Ostby Rovers transferred Kemi Adeyemi to Harcourt City.": ("Kemi Adeyemi", "transferred to", "Harcourt City"),
        "The Vell Gallery reopened in Norcastle after leaving Ardmore.": ("Vell Gallery", "relocated to", "Norcastle"),
        "The Brenna Group sold Corvin Mills; its new owner is Stellan Capital.":
            ("Corvin Mills", "new owner is", "Stellan Capital"),
    }
    for text, triple in told.items():
        assert triple in RuleExtractor().extract([text])[0].triples, text
    # a sale's "its new" is the thing sold; without a sale "its" stays the sentence's subject
    grew = RuleExtractor().extract(["The Brenna Group grew fast; its new chief executive is Ola Dunn."])[0]
    assert ("Brenna Group", "new chief executive is", "Ola Dunn") in grew.triples
    dated = RuleExtractor().extract(["The Vell Gallery reopened in 2004."])[0]
    assert dated.triples == [("Vell Gallery", "reopened in", "2004")]  # a date is no place it moved to
    groups = {"teaches at": "employer", "husband is now": "spouse", "new owner is": "owner",
              "relocated its offices to": "location"}
    assert {r: relation_group(normalize_relation(r)) for r in groups} == groups
    assert ended_group(normalize_relation("relocated its offices from")) == "location"


def test_a_news_paragraph_whose_second_sentence_tells_the_change():
    spent = RuleExtractor().extract(["After four years at Morland Glass, Ada Quist left the firm. "
                                     "She now works for Tessel Optics."])[0]
    assert spent.triples == [("Ada Quist", "now works for", "Tessel Optics")]  # "She": Ada Quist, not Morland Glass
    moved = RuleExtractor().extract(["Brindle Paper reported its results on Monday. "
                                     "The company has moved its headquarters to Ferncombe."])[0]
    assert ("Brindle Paper", "has moved its headquarters to", "Ferncombe") in moved.triples
    founded = RuleExtractor().extract(["Oren Hale founded Pavel Tools. The company is based in Lydd."])[0]
    assert not any(t[0] == "Oren Hale" and t[2] == "Lydd" for t in founded.triples)  # two names: which is not told
    bought = RuleExtractor().extract(["Corrin Foods has sold Whitby Creamery. "
                                      "The buyer, Alder Farms, paid in cash."])[0]
    assert ("Whitby Creamery", "was sold to", "Alder Farms") in bought.triples
    weekday = RuleExtractor().extract(["Ilona Berg resigned from Corve Mills. "
                                       "Since Tuesday she has worked at Hale Bank."])[0]
    assert ("Ilona Berg", "has worked at", "Hale Bank") in weekday.triples  # a day is a time, no name before "she"
    parted = RuleExtractor().extract(["Corve Rovers parted company with Ivo Tamm on Friday."])[0]
    assert parted.entities == ["Corve Rovers", "Ivo Tamm", "Friday"]  # not "Ivo Tamm on Friday", as "Stoke on Trent"
    leaving = RuleExtractor().extract(["Orwell Labs confirmed that Mina Sato is leaving. She lives in Hove."])[0]
    assert ("Mina Sato", "lives in", "Hove") in leaving.triples  # "She" is no organisation
    sale = RuleExtractor().extract(["Brisk Group completed the sale of Lowen Tea to Amber Leaf."])[0]
    assert ("Lowen Tea", "was sold to", "Amber Leaf") in sale.triples


def test_a_definite_noun_for_the_organisation_or_the_player_named_before():
    publisher = RuleExtractor().extract(["Harker Press is leaving Fenwick. "
                                         "The publisher will open its new offices in Marlow in June."])[0]
    assert ("Harker Press", "will open its new offices in", "Marlow") in publisher.triples
    forward = RuleExtractor().extract(["Ferncastle Athletic have sold striker Nadia Korsakova. "
                                       "The forward signed a three-year contract with Wexford Rovers."])[0]
    assert ("Nadia Korsakova", "signed a three-year contract with", "Wexford Rovers") in forward.triples
    studio = RuleExtractor().extract(["On August 16, 2013, Joseph Kosinski was announced to direct. "
                                      "The studio hired Aron Eli Coleite."])[0]
    assert not any(t[0] == "Joseph Kosinski" for t in studio.triples)  # a person's name is no studio
    club = RuleExtractor().extract(["Brennan City dismissed Karl Weiss after a poor run. "
                                    "The club has hired Sean Doyle as head coach."])[0]
    assert ("Brennan City", "head coach of", "Sean Doyle") in club.triples


def test_a_buyer_of_it_after_a_colon_and_a_welcomed_principal():
    sold = RuleExtractor().extract(["Glenmore Distillery has changed hands: "
                                    "Highland Cask bought it from Ardent Spirits."])[0]
    assert ("Glenmore Distillery", "was bought by", "Highland Cask") in sold.triples
    assert not any(t[0] == "Highland Cask" for t in sold.triples)  # no buyer's "bought it from" the seller
    welcomed = RuleExtractor().extract(["Hartfield School welcomed Rhys Callow as principal in September."])[0]
    assert ("Hartfield School", "principal of", "Rhys Callow") in welcomed.triples
    assert relation_group(normalize_relation("starts at")) == "employer"
