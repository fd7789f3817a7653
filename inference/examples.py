"""Example sentences written for this project (not taken from any dataset), by source language.

The app offers them as examples; export uses them to check that ONNX and torch pick the same tokens.
"""
EXAMPLES = {
    "en": [
        "A dog runs on the beach.",
        "Two children are playing football in the park.",
        "A woman in a red coat is reading a book on a bench.",
        "The old man sells fresh bread at the market.",
        "A group of people are waiting for the bus in the rain.",
        "A little girl is jumping into a swimming pool.",
        "Three men are climbing a steep rock wall.",
        "A black cat sleeps on a sunny windowsill.",
        "A musician plays the guitar on a busy street.",
        "Two women are cooking dinner in a small kitchen.",
        "A boy in a blue shirt rides his bike down the hill.",
        "The workers are repairing the road in front of a shop.",
    ],
    "de": [
        "Ein Hund rennt am Strand.",
        "Zwei Kinder spielen im Park Fußball.",
        "Eine Frau in einem roten Mantel liest auf einer Bank ein Buch.",
        "Der alte Mann verkauft frisches Brot auf dem Markt.",
        "Eine Gruppe von Menschen wartet im Regen auf den Bus.",
        "Ein kleines Mädchen springt in ein Schwimmbecken.",
        "Drei Männer klettern eine steile Felswand hinauf.",
        "Eine schwarze Katze schläft auf einer sonnigen Fensterbank.",
        "Ein Musiker spielt auf einer belebten Straße Gitarre.",
        "Zwei Frauen kochen in einer kleinen Küche das Abendessen.",
    ],
    "fr": [
        "Un chien court sur la plage.",
        "Deux enfants jouent au football dans le parc.",
        "Une femme en manteau rouge lit un livre sur un banc.",
        "Le vieil homme vend du pain frais au marché.",
        "Un groupe de personnes attend le bus sous la pluie.",
        "Une petite fille saute dans une piscine.",
    ],
}


def examples_for(language: str) -> list[str]:
    """Our sentences in `language`, or the English ones when we wrote none for it."""
    return EXAMPLES.get(language, EXAMPLES["en"])
