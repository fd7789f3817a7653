"""Example sentences written for this project (not taken from any dataset), by source language: image
captions like Multi30k's and everyday sentences like Tatoeba's, alternating, since the models know both.

The app offers them as examples; export uses them to check that ONNX and torch pick the same tokens.
"""

EXAMPLES = {
    "en": [
        "A dog runs on the beach.",
        "I forgot my umbrella at the office yesterday.",
        "Two children are playing football in the park.",
        "Could you tell me how to get to the museum?",
        "A woman in a red coat is reading a book on a bench.",
        "We should leave early tomorrow to avoid the traffic.",
        "The old man sells fresh bread at the market.",
        "My sister is learning to play the piano.",
        "A group of people are waiting for the bus in the rain.",
        "I left my phone charger in the hotel room.",
        "A little girl is jumping into a swimming pool.",
        "Do you want to have lunch together on Friday?",
        "Three men are climbing a steep rock wall.",
        "A black cat sleeps on a sunny windowsill.",
        "A musician plays the guitar on a busy street.",
        "Two women are cooking dinner in a small kitchen.",
        "A boy in a blue shirt rides his bike down the hill.",
        "The workers are repairing the road in front of a shop.",
        "Hello, how are you this morning?",
        "My name is Amara and I live in Lisbon.",
    ],
    "de": [
        "Ein brauner Hund rennt am Strand entlang.",
        "Ich habe gestern meinen Regenschirm im Büro vergessen.",
        "Zwei Kinder spielen im Park Fußball.",
        "Können Sie mir sagen, wie ich zum Museum komme?",
        "Eine Frau in einem roten Mantel liest auf einer Bank ein Buch.",
        "Wir sollten morgen früh losfahren, um den Stau zu vermeiden.",
        "Der alte Mann verkauft frisches Brot auf dem Markt.",
        "Meine Schwester lernt Klavier spielen.",
        "Eine Gruppe von Menschen wartet im Regen auf den Bus.",
        "Ich habe mein Ladekabel im Hotelzimmer liegen lassen.",
        "Ein kleines Mädchen springt in ein Schwimmbecken.",
        "Willst du am Freitag mit mir zu Mittag essen?",
        "Drei Männer klettern eine steile Felswand hinauf.",
        "Eine schwarze Katze schläft auf einer sonnigen Fensterbank.",
        "Ein Musiker spielt auf einer belebten Straße Gitarre.",
        "Zwei Frauen kochen in einer kleinen Küche das Abendessen.",
        "Hallo, wie geht es dir heute Morgen?",
        "Ich heiße Amara und wohne in Lissabon.",
    ],
    "fr": [
        "Un chien noir court sur la plage.",
        "J'ai oublié mon parapluie au bureau hier.",
        "Deux enfants jouent au football dans le parc.",
        "Pouvez-vous me dire comment aller au musée ?",
        "Une femme en manteau rouge lit un livre sur un banc.",
        "Nous devrions partir tôt demain pour éviter les embouteillages.",
        "Le vieil homme vend du pain frais au marché.",
        "Ma sœur apprend à jouer du piano.",
        "Un groupe de personnes attend le bus sous la pluie.",
        "J'ai laissé mon chargeur dans la chambre d'hôtel.",
        "Une petite fille saute dans une piscine.",
        "Tu veux déjeuner avec moi vendredi ?",
        "Bonjour, comment vas-tu ce matin ?",
        "Je m'appelle Amara et j'habite à Lisbonne.",
    ],
}


def examples_for(language: str) -> list[str]:
    """Our sentences in `language`, or the English ones when we wrote none for it."""
    return EXAMPLES.get(language, EXAMPLES["en"])
