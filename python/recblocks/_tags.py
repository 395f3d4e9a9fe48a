"""Tags: the column tags by Merlin's names (Tags.CATEGORICAL, Tags.USER_ID, ...)."""

from recblocks._recblocks import Tag

_NAMES = [
    "categorical", "continuous", "list", "sequence", "text", "tokenized", "time", "embedding",
    "id", "user", "item", "session", "context", "target", "regression", "classification",
    "binary", "multi_class", "user_id", "item_id", "session_id", "text_tokenized",
    "binary_classification", "multi_class_classification",
]


class Tags:
    """Merlin's Tags: `Tags.CATEGORICAL`, `Tags.USER_ID`, ... (each a recblocks.Tag)."""


for _name in _NAMES:
    setattr(Tags, _name.upper(), Tag(_name))
