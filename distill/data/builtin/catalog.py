"""A generated product catalog: the ground truth every built-in task is sampled from.

Ambiguity is deliberate so the tasks are learnable but not trivial: product types shared
between categories ("bag", "mat", "lamp"), brands that look like colours ("Blue Ridge",
"Red Fox"), and brands sold in more than one category.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

COLORS = [
    "black",
    "white",
    "grey",
    "navy",
    "blue",
    "red",
    "green",
    "olive",
    "beige",
    "pink",
    "purple",
    "yellow",
    "orange",
    "brown",
    "silver",
    "gold",
    "rose gold",
    "sky blue",
    "dark green",
]

SIZE_KINDS: dict[str, list[str]] = {
    "apparel": ["XS", "S", "M", "L", "XL", "XXL", "size M", "size L"],
    "shoe": ["size 6", "size 7", "size 8", "size 9", "size 10", "size 11", "size 12", "EU 42", "EU 44"],
    "storage": ["64GB", "128GB", "256GB", "512GB", "1TB"],
    "screen": ["13 inch", "14 inch", "15.6 inch", "17 inch", "24 inch", "27 inch"],
    "volume": ["250 ml", "500 ml", "750 ml", "1 l", "1.5 l", "2 l"],
    "pack": ["2 pack", "3 pack", "4 pack", "6 pack", "pack of 10", "set of 4"],
    "dimension": ["small", "medium", "large", "60 x 90 cm", "120 x 60 cm", "queen", "king"],
    "weight": ["2 kg", "5 kg", "10 kg", "12 lb", "25 lb"],
}

PRICE_BANDS = {"budget": (5, 30), "mid": (30, 150), "premium": (150, 900)}


@dataclass(frozen=True)
class Category:
    name: str
    products: tuple[str, ...]
    brands: tuple[str, ...]
    materials: tuple[str, ...]
    sizes: str
    adjectives: tuple[str, ...]
    aspects: tuple[str, ...]  # what reviews talk about
    price_band: str
    complements: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _c(name, products, brands, materials, sizes, adjectives, aspects, band, complements=None):
    return Category(
        name,
        tuple(products),
        tuple(brands),
        tuple(materials),
        sizes,
        tuple(adjectives),
        tuple(aspects),
        band,
        complements or {},
    )


CATEGORIES: tuple[Category, ...] = (
    _c(
        "phones",
        ["smartphone", "phone case", "screen protector", "charger", "power bank"],
        ["Nexa", "Voltix", "Orbit", "Blue Ridge", "Pixelon"],
        ["silicone", "tempered glass", "aluminium", "plastic"],
        "storage",
        ["unlocked", "dual sim", "fast charging", "slim", "rugged"],
        ["battery", "screen", "camera", "charging speed", "signal"],
        "premium",
        {"smartphone": ("phone case", "screen protector", "charger")},
    ),
    _c(
        "computers",
        ["laptop", "monitor", "keyboard", "mouse", "laptop bag"],
        ["Corevo", "Nexa", "Keyton", "Lumos", "Orbit"],
        ["aluminium", "plastic", "nylon", "mesh"],
        "screen",
        ["wireless", "ergonomic", "gaming", "ultralight", "backlit"],
        ["keyboard", "screen", "battery", "trackpad", "fan noise"],
        "premium",
        {"laptop": ("laptop bag", "mouse", "keyboard"), "monitor": ("keyboard", "mouse")},
    ),
    _c(
        "audio",
        ["headphones", "earbuds", "speaker", "soundbar", "microphone"],
        ["Sonora", "Voltix", "Echoline", "Red Fox", "Bassic"],
        ["plastic", "aluminium", "leather", "foam"],
        "pack",
        ["noise cancelling", "wireless", "waterproof", "portable", "studio"],
        ["sound", "bass", "battery", "fit", "bluetooth connection"],
        "mid",
        {"speaker": ("microphone",), "headphones": ("earbuds",)},
    ),
    _c(
        "kitchen",
        ["frying pan", "water bottle", "coffee maker", "knife set", "mat", "lunch box"],
        ["Cucina", "Ironleaf", "Hearth", "Greenway", "Brewster"],
        ["stainless steel", "cast iron", "ceramic", "bamboo", "glass"],
        "volume",
        ["non stick", "insulated", "dishwasher safe", "bpa free", "programmable"],
        ["handle", "coating", "lid", "taste", "cleanup"],
        "mid",
        {"coffee maker": ("water bottle",), "frying pan": ("knife set",)},
    ),
    _c(
        "furniture",
        ["office chair", "desk", "bookshelf", "lamp", "sofa cover"],
        ["Oakridge", "Nordhaus", "Comfy", "Lumos", "Hearth"],
        ["solid wood", "oak", "metal", "velvet", "faux leather"],
        "dimension",
        ["adjustable", "foldable", "mid century", "modern", "reclining"],
        ["assembly", "cushion", "sturdiness", "finish", "height"],
        "premium",
        {"desk": ("office chair", "lamp"), "office chair": ("desk",)},
    ),
    _c(
        "apparel",
        ["t-shirt", "hoodie", "jeans", "dress", "jacket", "bag"],
        ["Urbane", "Red Fox", "Northpeak", "Linnea", "Threadly"],
        ["cotton", "denim", "wool", "polyester", "linen"],
        "apparel",
        ["slim fit", "oversized", "relaxed", "breathable", "casual"],
        ["fit", "fabric", "stitching", "colour", "sizing"],
        "budget",
        {"jeans": ("t-shirt", "jacket"), "dress": ("bag",)},
    ),
    _c(
        "footwear",
        ["running shoes", "sneakers", "boots", "sandals", "socks"],
        ["Stride", "Apex", "Northpeak", "Urbane", "Trailhead"],
        ["leather", "suede", "mesh", "rubber", "faux leather"],
        "shoe",
        ["lightweight", "waterproof", "cushioned", "non slip", "wide"],
        ["sole", "fit", "comfort", "laces", "grip"],
        "mid",
        {"running shoes": ("socks",), "boots": ("socks",)},
    ),
    _c(
        "beauty",
        ["shampoo", "face cream", "lipstick", "hair dryer", "perfume"],
        ["Linnea", "Glowry", "Purely", "Rosa", "Velour"],
        ["glass", "plastic", "aluminium"],
        "volume",
        ["organic", "fragrance free", "long lasting", "hydrating", "travel size"],
        ["scent", "texture", "packaging", "skin feel", "results"],
        "budget",
        {"shampoo": ("hair dryer",), "hair dryer": ("shampoo",)},
    ),
    _c(
        "sports",
        ["yoga mat", "dumbbells", "tent", "water bottle", "bag", "bike helmet"],
        ["Apex", "Trailhead", "Summit", "Stride", "Ironleaf"],
        ["foam", "neoprene", "nylon", "steel", "rubber"],
        "weight",
        ["non slip", "adjustable", "lightweight", "waterproof", "heavy duty"],
        ["grip", "weight", "durability", "zipper", "padding"],
        "mid",
        {"tent": ("bag",), "dumbbells": ("yoga mat",), "yoga mat": ("water bottle",)},
    ),
    _c(
        "toys",
        ["building blocks", "puzzle", "plush toy", "board game", "rc car"],
        ["Playfox", "Tinker", "Bricko", "Red Fox", "Joyful"],
        ["plastic", "wood", "plush", "cardboard"],
        "pack",
        ["educational", "for kids", "1000 piece", "rechargeable", "classic"],
        ["pieces", "instructions", "quality", "fun", "battery"],
        "budget",
        {"rc car": ("board game",), "puzzle": ("board game",)},
    ),
    _c(
        "pets",
        ["dog bed", "cat litter", "pet food", "leash", "bowl"],
        ["Pawsome", "Furbo", "Greenway", "Tailwag", "Comfy"],
        ["plush", "nylon", "stainless steel", "ceramic"],
        "weight",
        ["orthopedic", "grain free", "clumping", "reflective", "washable"],
        ["smell", "size", "stitching", "my dog", "my cat"],
        "budget",
        {"dog bed": ("leash", "bowl"), "pet food": ("bowl",)},
    ),
    _c(
        "garden",
        ["garden hose", "lamp", "planter", "lawn mower", "pruning shears"],
        ["Greenway", "Hearth", "Summit", "Oakridge", "Verdant"],
        ["steel", "ceramic", "plastic", "rubber", "solid wood"],
        "dimension",
        ["solar", "expandable", "cordless", "outdoor", "frost proof"],
        ["setup", "pressure", "blade", "battery", "weatherproofing"],
        "mid",
        {"lawn mower": ("pruning shears",), "planter": ("garden hose",)},
    ),
)

CATEGORY_BY_NAME = {c.name: c for c in CATEGORIES}


@dataclass(frozen=True)
class Product:
    """One catalog item; ``parts`` keeps each title fragment with its attribute tag (or None)."""

    category: str
    product: str
    brand: str
    color: str
    size: str
    material: str
    adjective: str
    price: float


def sample_product(rng: random.Random, category: Category | None = None, product: str | None = None) -> Product:
    """A random product, optionally of a given category and product type."""
    cat = category or rng.choice(CATEGORIES)
    lo, hi = PRICE_BANDS[cat.price_band]
    return Product(
        category=cat.name,
        product=product or rng.choice(cat.products),
        brand=rng.choice(cat.brands),
        color=rng.choice(COLORS),
        size=rng.choice(SIZE_KINDS[cat.sizes]),
        material=rng.choice(cat.materials),
        adjective=rng.choice(cat.adjectives),
        price=round(rng.uniform(lo, hi), 2),
    )


def categories_with_product(product: str) -> list[Category]:
    """Every category whose catalog contains this product type (shared types are ambiguous)."""
    return [c for c in CATEGORIES if product in c.products]
