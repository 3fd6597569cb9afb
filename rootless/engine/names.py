"""Container ids and names: 64-hex ids with a 12-char short form, Docker-like names."""

from __future__ import annotations

import os
import re

from rootless.errors import UsageError

# A short list in Docker's spirit (adjective_surname); uniqueness comes from the
# name index, with a numeric suffix once the combinations are exhausted.
ADJECTIVES = (  # noqa: SIM905  (a word list reads best as text)
    "admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold "
    "boring brave busy charming clever compassionate competent condescending confident cool "
    "cranky crazy dazzling determined distracted dreamy eager ecstatic elastic elated elegant "
    "eloquent epic exciting fervent festive flamboyant focused friendly frosty funny gallant "
    "gifted goofy gracious great happy hardcore heuristic hopeful hungry infallible inspiring "
    "intelligent interesting jolly jovial keen kind laughing loving lucid magical modest "
    "musing mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful "
    "pedantic pensive practical priceless quirky quizzical recursing relaxed reverent "
    "romantic sad serene sharp silly sleepy stoic strange stupefied suspicious sweet tender "
    "thirsty trusting unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial "
    "youthful zealous zen"
).split()
SURNAMES = (  # noqa: SIM905
    "albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach bardeen "
    "bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth borg "
    "bose bouman boyd brahmagupta brattain brown buck burnell cannon carson cartwright cerf "
    "chandrasekhar chaplygin chatelet chatterjee chebyshev cohen colden cori cray curie "
    "darwin davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison "
    "einstein elbakyan elgamal elion ellis engelbart euclid euler faraday feistel fermat "
    "fermi feynman franklin gagarin galileo galois ganguly gates gauss germain goldberg "
    "goldstine goldwasser golick goodall gould greider grothendieck haibt hamilton hawking "
    "heisenberg hellman hermann herschel hertz heyrovsky hodgkin hofstadter hoover hopper "
    "hugle hypatia jackson jang jennings jepsen johnson joliot jones kalam kapitsa kare "
    "keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski lalande lamarr "
    "lamport leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere "
    "mahavira margulis matsumoto maxwell mayer mccarthy mcclintock mclaren mclean mcnulty "
    "meitner mendel mendeleev meninsky merkle mestorf mirzakhani montalcini moore morse "
    "moser murdock napier nash neumann newton nightingale nobel noether northcutt noyce "
    "panini pare pascal pasteur payne perlman pike poincare poitras proskuriakova ptolemy "
    "raman ramanujan rhodes ride ritchie robinson roentgen rosalind rubin saha sammet "
    "sanderson satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder solomon "
    "spence stonebraker sutherland swanson swartz swirles taussig tesla tharp thompson "
    "torvalds tu turing varahamihira vaughan villani visvesvaraya volhard wescoff wilbur "
    "wiles williams williamson wilson wing wozniak wright wu yalow yonath zhukovsky"
).split()

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_HEX_RE = re.compile(r"^[0-9a-f]{1,64}$")


def new_id() -> str:
    return os.urandom(32).hex()


def short_id(cid: str) -> str:
    return cid[:12]


def random_name() -> str:
    rnd = int.from_bytes(os.urandom(4), "big")
    adj = ADJECTIVES[rnd % len(ADJECTIVES)]
    sur = SURNAMES[(rnd // len(ADJECTIVES)) % len(SURNAMES)]
    return f"{adj}_{sur}"


def validate_name(name: str) -> str:
    if not _NAME_RE.match(name) or len(name) > 128:
        raise UsageError(
            f"invalid container name {name!r}",
            hint="use letters, digits, '_', '.', '-', starting with a letter or digit",
        )
    return name


def looks_like_id(ref: str) -> bool:
    return bool(_HEX_RE.match(ref))
