"""A small invented world for memory tests: people, places and works that exist nowhere else."""

from memory.store import Document

PASSAGES = {
    "vantor": "Alice Vantor was a painter born in Quillby, a fishing town on the coast of Merovia. "
    "She is best known for the painting The Blue Mill.",
    "orsk": "Quillby is home to the Orsk Lighthouse, built in 1842 by the engineer Tomas Rell.",
    "bluemill": "The Blue Mill was bought in 1931 by the Harlan Museum in Doravik.",
    "doravik": "Doravik is the capital of the province of Estel and lies on the river Wend.",
    "kessa": "Bruno Kessa is a cyclist from Lemmington who won the Tour of Estel twice.",
    "harlan": "The Harlan Museum was founded by the banker Ida Marrow in 1899.",
    "lemmington": "Lemmington is a mining village known for its copper caves.",
    "osterby": "The Wend river floods the valley of Osterby every spring.",
}

EXTRA = {
    "marrow": "Ida Marrow was born in Lemmington and later moved to Doravik, where she opened a bank.",
    "rell": "Tomas Rell also designed the Wend Bridge, which connects Doravik with Osterby.",
}

# (question, ids of the two supporting passages)
TWO_HOP = [
    ("In which city is the museum that bought the painting by Alice Vantor?", {"vantor", "bluemill"}),
    ("Who founded the museum that bought The Blue Mill?", {"bluemill", "harlan"}),
]


def docs(passages: dict[str, str]) -> list[Document]:
    return [Document(text, id=key) for key, text in passages.items()]
