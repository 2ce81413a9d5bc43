"""Field errors: pydantic's error types mapped to stable codes and messages in en/fr."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# pydantic error type -> our stable code
_CODE_OF_TYPE = {
    "missing": "required",
    "string_too_long": "too_long",
    "string_too_short": "required",
    "too_long": "too_long",
    "too_short": "required",
    "extra_forbidden": "unknown_field",
    "enum": "invalid_choice",
    "literal_error": "invalid_choice",
    "bool_parsing": "invalid_boolean",
    "bool_type": "invalid_boolean",
    "string_type": "invalid_type",
    "json_invalid": "invalid_json",
    "model_attributes_type": "invalid_type",
    "model_type": "invalid_type",
    "dict_type": "invalid_type",
}

# Model-level rules are reported on the field the visitor should fix.
_FIELD_OF_CODE = {
    "contact_required": "email",
    "phone_required": "phone",
    "email_required": "email",
}

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "required": "This field is required.",
        "too_long": "This is too long (at most {max_length} characters).",
        "unknown_field": "This field is not part of the form.",
        "invalid_choice": "Choose one of the offered options.",
        "invalid_boolean": "Answer yes or no.",
        "invalid_type": "This value has the wrong type.",
        "invalid_json": "The request body is not valid JSON.",
        "control_characters": "Please use a single line of plain text.",
        "invisible_characters": "Please remove invisible or text-direction characters.",
        "invalid_email": "Please enter a valid email address.",
        "invalid_phone": "Please enter a valid phone number, e.g. 416-555-0123.",
        "consent_required": "Please confirm that we may contact you about your inquiry.",
        "contact_required": "Please give an email address or a phone number.",
        "phone_required": "Please give a phone number so we can call you back.",
        "email_required": "Please give an email address so we can reply.",
        "not_allowed": "Leave this out here.",
        "unknown_parameter": "This query parameter is not known here.",
        "invalid": "This value is not valid.",
    },
    "fr": {
        "required": "Ce champ est obligatoire.",
        "too_long": "Ce texte est trop long ({max_length} caractères au maximum).",
        "unknown_field": "Ce champ ne fait pas partie du formulaire.",
        "invalid_choice": "Choisissez l'une des options proposées.",
        "invalid_boolean": "Répondez par oui ou par non.",
        "invalid_type": "Cette valeur n'est pas du bon type.",
        "invalid_json": "Le corps de la requête n'est pas du JSON valide.",
        "control_characters": "Veuillez écrire une seule ligne de texte simple.",
        "invisible_characters": "Veuillez retirer les caractères invisibles ou de direction "
        "du texte.",
        "invalid_email": "Veuillez entrer une adresse courriel valide.",
        "invalid_phone": "Veuillez entrer un numéro de téléphone valide, p. ex. 416-555-0123.",
        "consent_required": "Veuillez confirmer que nous pouvons vous contacter au sujet "
        "de votre demande.",
        "contact_required": "Veuillez indiquer une adresse courriel ou un numéro de téléphone.",
        "phone_required": "Veuillez indiquer un numéro de téléphone pour que nous puissions "
        "vous rappeler.",
        "email_required": "Veuillez indiquer une adresse courriel pour que nous puissions "
        "vous répondre.",
        "not_allowed": "Omettez ce champ ici.",
        "unknown_parameter": "Ce paramètre de requête n'est pas reconnu ici.",
        "invalid": "Cette valeur n'est pas valide.",
    },
}


def field_errors(
    errors: Iterable[Any], language: str, *, drop_prefix: Sequence[str] = ()
) -> list[dict[str, str]]:
    """One entry per field (the first problem found), with a stable code and a message."""
    catalog = MESSAGES.get(language, MESSAGES["en"])
    seen: dict[str, dict[str, str]] = {}
    for error in errors:
        kind = str(error.get("type", ""))
        code = _CODE_OF_TYPE.get(kind, kind if kind in catalog else "invalid")
        location = [str(part) for part in error.get("loc", ())]
        while location and location[0] in drop_prefix:
            location = location[1:]
        field = ".".join(location) or _FIELD_OF_CODE.get(code, "")
        if code == "invalid_json":
            field = ""  # a position in a broken document names no field
        if field in seen:
            continue
        context = {"max_length": "", **(error.get("ctx") or {})}
        message = catalog.get(code, catalog["invalid"]).format(**context)
        seen[field] = {"field": field, "code": code, "message": message}
    return list(seen.values())
