"""The dashboard's words in English, French, Arabic and Portuguese; the user picks.

``?lang=fr`` on any page sets a cookie; without one, ``Accept-Language`` decides.
A key missing in a language falls back to English (a test checks none is missing).
Arabic is written right to left (``RTL``). Arabic and Portuguese are machine
translations (docs/i18n.md).
"""

from __future__ import annotations

from regional_server.dashboard.locales.ar import AR
from regional_server.dashboard.locales.fleet import FLEET
from regional_server.dashboard.locales.pt import PT

LANGUAGES = ("en", "fr", "ar", "pt")
RTL = frozenset({"ar"})
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية", "pt": "Português"}
LANG_COOKIE = "ks_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "app_title": "Café safety indicators",
        "login_title": "Sign in",
        "email": "E-mail",
        "password": "Password",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "bad_login": "Wrong e-mail or password.",
        "bad_csrf": "The form expired. Please try again.",
        "locked_out": "Too many attempts. Try again in {minutes} min.",
        "dashboard": "Dashboard",
        "admin_users": "Users",
        "admin_regions": "Regions",
        "admin_codes": "Enrollment codes",
        "filters": "Filters",
        "region": "Region",
        "all_regions": "All my regions",
        "country": "Country",
        "all_countries": "All countries",
        "date_from": "From",
        "date_to": "To",
        "apply": "Show",
        "download_csv": "Download CSV",
        "json": "JSON",
        "weekly_title": "Indicators per week",
        "blocked_title": "Blocked attempts by category",
        "regions_title": "Regions",
        "countries_title": "Countries",
        "silent_elsewhere": "Kiosks of {regions} are followed on their own regional servers: "
        "no kiosk-level data leaves them.",
        "admin_children": "Child servers",
        "children_intro": "Regional servers that may push their published figures to this "
        "server, each with its key and the regions or countries it may speak for. A "
        "server's key is what this command prints on it:",
        "new_child": "Register a child server",
        "server_key": "Key",
        "last_push": "Last push",
        "pushed_note": "Figures of {regions} come from other regional servers, as they "
        "published them. A total or a country sums published figures; a hidden figure "
        "(<{threshold}) adds nothing to it.",
        "week": "Week",
        "total": "Total",
        "sessions": "Sessions",
        "notices_shown": "Notices shown",
        "notices_acknowledged": "Notices acknowledged",
        "feedback_helpful": "Tips marked helpful",
        "feedback_not_helpful": "Tips marked not for me",
        "ack_rate": "Acknowledgement rate (%)",
        "blocked": "Blocked attempts",
        "blocked_per_1000": "Blocked per 1,000 sessions",
        "tamper": "Tamper attempts",
        "tamper_per_1000": "Tamper per 1,000 sessions",
        "p2p": "P2P sightings",
        "per_1000": "per 1,000 sessions",
        "kiosks_enrolled": "Kiosks enrolled",
        "kiosks_active": "Active (7 days)",
        "kiosks_on_newest": "On newest list",
        "coverage_title": "Kiosk coverage",
        "chart_blocked": "Blocked attempts per week, by category",
        "chart_ack": "Notice acknowledgement rate per week (%)",
        "silent_title": "Kiosks silent for more than {days} days",
        "silent_none": "Every kiosk has reported in the last {days} days.",
        "silent_more": "{shown} of {total} shown.",
        "kiosk_id": "Kiosk",
        "cafe_name": "Café",
        "last_report": "Last report",
        "never": "never (enrolled {date})",
        "suppressed_note": (
            "Counts below {threshold} are shown as <{threshold}; 0 is a true zero; "
            '"no data" means no report. Every count carries a small random offset '
            "(at most a few), always the same for the same figure, so that a hidden count "
            "cannot be worked out by comparing two views."
        ),
        "no_data": "No reports in this period.",
        "no_regions": "No region is granted to your account yet; ask an administrator.",
        "role": "Role",
        "regions": "Regions",
        "active": "Active",
        "save": "Save",
        "create": "Create",
        "new_user": "New user",
        "new_region": "New region",
        "new_code": "New enrollment code",
        "code": "Code",
        "name": "Name",
        "uses": "Uses",
        "uses_left": "Uses left",
        "expires": "Expires",
        "expires_days": "Valid for (days)",
        "revoke": "Revoke",
        "revoked": "revoked",
        "code_created": "New code (shown only once): {code}",
        "saved": "Saved.",
        "yes": "yes",
        "no": "no",
        "language": "Language",
        "signed_in_as": "Signed in as {email}",
        "latest_lists": "Newest list versions",
        "error_title": "Something went wrong",
        "error_back": "Back to the dashboard",
        "error_not_found": "This page or region does not exist, or is not yours to see.",
        "error_bad_filter": "These filters cannot be used: {detail}",
        "error_bad_request": "The request was not valid: {detail}",
        "error_too_many": "Too many requests. Wait a minute and try again.",
        "error_busy": "Too many logins at once. Try again in a minute.",
        "error_internal": "An internal error happened. Try again later.",
        "error_generic": "The request could not be done ({status}).",
        "week_label": "W{week} {year}",
        "week_short": "W{week}",
        "hidden_title": "fewer than {threshold} (hidden to protect people)",
        "cat.csam": "Child sexual abuse material",
        "cat.abuse_material": "Abuse material",
        "cat.grooming": "Grooming",
        "cat.malware": "Malware",
        "cat.phishing": "Phishing",
        "cat.scam": "Scams",
        "cat.gambling": "Gambling",
        "cat.adult": "Adult content",
        "cat.extremism": "Violent extremism",
        "no_data_cell": "no data",
        "chart_no_data": "No data for these weeks",
        "headline_title": "This period ({weeks} weeks)",
        "vs_previous": "vs previous period",
        "no_trend": "no comparison with the previous period",
        "kiosks_reporting": "Kiosks reporting / enrolled",
        "kiosks_reporting_note": "reported in the last 7 days",
        "no_kiosks": "No kiosk is enrolled in these regions yet.",
        "admin_kiosks": "Kiosks",
        "retire_help": (
            "A retired kiosk (café closed, PC taken away) is no longer expected to report: it "
            "leaves the completeness figures, the kiosks enrolled and the silent list. Its past "
            "reports stay."
        ),
        "status": "Status",
        "never_reported": "never",
        "retired_on": "retired {date}",
        "in_service": "in service",
        "retire": "Retire",
        "unretire": "Bring back",
        "role_admin": "Administrator",
        "role_coordinator": "Coordinator",
        "alerts_title": "Alerts",
        "alerts_none": "No alert in the regions you follow.",
        "alerts_rules": (
            "A jump: the last complete week is at least 10 and above the median of the 8 weeks "
            "before by more than 3 times their spread (1.4826 × median absolute deviation, at "
            "least 1). Figures are those of the dashboard (small counts hidden)."
        ),
        "alert_settings": "Alert settings",
        "alert_subscribe": "Follow",
        "alert_silent_days": "Silent after (days)",
        "alert_jumps": "Jumps in blocked or tamper attempts",
        "alert_feeds": "Feed rejections",
        "alert_digest": "Send me a weekly digest by e-mail",
        "alert_no_smtp": (
            "E-mail is not set up on this server yet (SMTP settings): no digest is sent until it "
            "is."
        ),
        "alert_silent": "{region}: {count} kiosks silent for more than {days} days ({kiosks}).",
        "alert_blocked_jump": (
            "{region}, {week}: {value} blocked attempts, against a usual {usual} a week."
        ),
        "alert_tamper_jump": (
            "{region}, {week}: {value} tamper attempts, against a usual {usual} a week."
        ),
        "alert_feed_rejections": (
            "{region}, {week}: kiosks refused a blocklist feed {value} times (each kept its "
            "previous list)."
        ),
        "completeness_title": "Reporting completeness",
        "completeness_note": (
            "Expected: kiosks enrolled and not retired. Received: expected kiosks that sent a "
            "report for the week. On time: their first report for the week arrived at most "
            "{days} days after the week ended."
        ),
        "chart_completeness": "Reporting completeness and timeliness per week (%)",
        "kiosks_expected": "Kiosks expected",
        "reports_received": "Reports received",
        "reports_on_time": "Reports on time",
        "completeness_rate": "Completeness (%)",
        "timeliness_rate": "On time (%)",
        "digest_subject": "Café safety alerts, week {week}: {count}",
        "digest_intro": "Alerts for week {week} in the regions you follow:",
        "digest_none": "No alert for week {week} in the regions you follow.",
        "digest_footer": (
            "Counts below {threshold} are shown as <{threshold}, as on the dashboard. Change "
            "what you receive on the Alerts page of the dashboard."
        ),
        "api_docs": "API",
        "api_docs_intro": "The operations scripts can call. The schema as OpenAPI JSON:",
        "api_parameter": "Parameter",
        "api_in": "In",
        "api_type": "Type",
        "api_required": "Required",
        "api_body": "Body",
        "api_responses": "Responses",
        "dhis2_title": "DHIS2 exchange",
        "dhis2_intro": (
            "Upload the mapping (JSON) from our indicator names and "
            "region codes to DHIS2 data element and org unit ids; counts "
            "are sent as on the dashboard (hidden ones left out)."
        ),
        "dhis2_file": "Mapping file",
        "dhis2_current": "Current mapping",
        "dhis2_bad": "The mapping was not saved: {detail}",
        "account_title": "My account",
        "tokens_title": "API tokens for scripts",
        "tokens_intro": "A token reads the JSON and CSV routes with your regions, "
        "without a login form. Send it as",
        "token_created": "New token (shown only once; copy it now):",
        "token_error": "The token was not created: {detail}",
        "token_created_at": "Created",
        "token_last_used": "Last used",
    },
    "fr": {
        "app_title": "Indicateurs de sécurité des cybercafés",
        "login_title": "Connexion",
        "email": "Adresse e-mail",
        "password": "Mot de passe",
        "sign_in": "Se connecter",
        "sign_out": "Se déconnecter",
        "bad_login": "Adresse e-mail ou mot de passe incorrect.",
        "bad_csrf": "Le formulaire a expiré. Veuillez réessayer.",
        "locked_out": "Trop de tentatives. Réessayez dans {minutes} min.",
        "dashboard": "Tableau de bord",
        "admin_users": "Utilisateurs",
        "admin_regions": "Régions",
        "admin_codes": "Codes d'inscription",
        "filters": "Filtres",
        "region": "Région",
        "all_regions": "Toutes mes régions",
        "country": "Pays",
        "all_countries": "Tous les pays",
        "date_from": "Du",
        "date_to": "Au",
        "apply": "Afficher",
        "download_csv": "Télécharger le CSV",
        "json": "JSON",
        "weekly_title": "Indicateurs par semaine",
        "blocked_title": "Tentatives bloquées par catégorie",
        "regions_title": "Régions",
        "countries_title": "Pays",
        "silent_elsewhere": "Les kiosques de {regions} sont suivis sur leurs propres serveurs "
        "régionaux : aucune donnée par kiosque n'en sort.",
        "admin_children": "Serveurs enfants",
        "children_intro": "Serveurs régionaux autorisés à envoyer leurs chiffres publiés à "
        "ce serveur, chacun avec sa clé et les régions ou pays pour lesquels il peut "
        "parler. La clé d'un serveur est ce qu'affiche cette commande sur celui-ci :",
        "new_child": "Enregistrer un serveur enfant",
        "server_key": "Clé",
        "last_push": "Dernier envoi",
        "pushed_note": "Les chiffres de {regions} viennent d'autres serveurs régionaux, "
        "tels qu'ils les ont publiés. Un total ou un pays additionne des chiffres publiés ; "
        "un chiffre masqué (<{threshold}) n'y ajoute rien.",
        "week": "Semaine",
        "total": "Total",
        "sessions": "Sessions",
        "notices_shown": "Avis affichés",
        "notices_acknowledged": "Avis acceptés",
        "feedback_helpful": "Conseils jugés utiles",
        "feedback_not_helpful": "Conseils jugés « pas pour moi »",
        "ack_rate": "Taux d'acceptation (%)",
        "blocked": "Tentatives bloquées",
        "blocked_per_1000": "Bloquées pour 1 000 sessions",
        "tamper": "Tentatives de contournement",
        "tamper_per_1000": "Contournements pour 1 000 sessions",
        "p2p": "Détections P2P",
        "per_1000": "pour 1 000 sessions",
        "kiosks_enrolled": "Postes inscrits",
        "kiosks_active": "Actifs (7 jours)",
        "kiosks_on_newest": "Liste à jour",
        "coverage_title": "Couverture des postes",
        "chart_blocked": "Tentatives bloquées par semaine et par catégorie",
        "chart_ack": "Taux d'acceptation des avis par semaine (%)",
        "silent_title": "Postes silencieux depuis plus de {days} jours",
        "silent_none": "Tous les postes ont envoyé un rapport ces {days} derniers jours.",
        "silent_more": "{shown} sur {total} affichés.",
        "kiosk_id": "Poste",
        "cafe_name": "Cybercafé",
        "last_report": "Dernier rapport",
        "never": "jamais (inscrit le {date})",
        "suppressed_note": (
            "Les nombres inférieurs à {threshold} sont affichés <{threshold} ; 0 est un vrai "
            "zéro ; « pas de données » signifie aucun rapport. Chaque nombre porte un petit "
            "décalage aléatoire (quelques unités au plus), toujours le même pour le même "
            "chiffre, pour qu'aucun nombre masqué ne se déduise en comparant deux vues."
        ),
        "no_data": "Aucun rapport sur cette période.",
        "no_regions": "Aucune région n'est encore attribuée à votre compte ; "
        "demandez à un administrateur.",
        "role": "Rôle",
        "regions": "Régions",
        "active": "Actif",
        "save": "Enregistrer",
        "create": "Créer",
        "new_user": "Nouvel utilisateur",
        "new_region": "Nouvelle région",
        "new_code": "Nouveau code d'inscription",
        "code": "Code",
        "name": "Nom",
        "uses": "Utilisations",
        "uses_left": "Utilisations restantes",
        "expires": "Expire le",
        "expires_days": "Valable (jours)",
        "revoke": "Révoquer",
        "revoked": "révoqué",
        "code_created": "Nouveau code (affiché une seule fois) : {code}",
        "saved": "Enregistré.",
        "yes": "oui",
        "no": "non",
        "language": "Langue",
        "signed_in_as": "Connecté : {email}",
        "latest_lists": "Dernières versions des listes",
        "error_title": "Une erreur est survenue",
        "error_back": "Retour au tableau de bord",
        "error_not_found": "Cette page ou cette région n'existe pas, ou ne vous est pas ouverte.",
        "error_bad_filter": "Ces filtres ne peuvent pas être utilisés : {detail}",
        "error_bad_request": "La requête n'était pas valide : {detail}",
        "error_too_many": "Trop de requêtes. Attendez une minute et réessayez.",
        "error_busy": "Trop de connexions en même temps. Réessayez dans une minute.",
        "error_internal": "Une erreur interne est survenue. Réessayez plus tard.",
        "error_generic": "La requête n'a pas pu aboutir ({status}).",
        "week_label": "S{week} {year}",
        "week_short": "S{week}",
        "hidden_title": "moins de {threshold} (masqué pour protéger les personnes)",
        "cat.csam": "Contenus d'abus sexuels sur enfants",
        "cat.abuse_material": "Contenus d'abus",
        "cat.grooming": "Pédopiégeage",
        "cat.malware": "Logiciels malveillants",
        "cat.phishing": "Hameçonnage",
        "cat.scam": "Escroqueries",
        "cat.gambling": "Jeux d'argent",
        "cat.adult": "Contenus pour adultes",
        "cat.extremism": "Extrémisme violent",
        "no_data_cell": "pas de données",
        "chart_no_data": "Pas de données pour ces semaines",
        "headline_title": "Cette période ({weeks} semaines)",
        "vs_previous": "par rapport à la période précédente",
        "no_trend": "pas de comparaison avec la période précédente",
        "kiosks_reporting": "Postes actifs / inscrits",
        "kiosks_reporting_note": "rapport reçu ces 7 derniers jours",
        "no_kiosks": "Aucun poste n'est encore inscrit dans ces régions.",
        "admin_kiosks": "Postes",
        "retire_help": (
            "Un poste retiré (cybercafé fermé, PC enlevé) n'est plus attendu : il sort des "
            "chiffres de complétude, des postes inscrits et de la liste des postes silencieux. "
            "Ses rapports passés restent."
        ),
        "status": "État",
        "never_reported": "jamais",
        "retired_on": "retiré le {date}",
        "in_service": "en service",
        "retire": "Retirer",
        "unretire": "Remettre en service",
        "role_admin": "Administrateur",
        "role_coordinator": "Coordinateur",
        "alerts_title": "Alertes",
        "alerts_none": "Aucune alerte dans les régions que vous suivez.",
        "alerts_rules": (
            "Un pic : la dernière semaine complète vaut au moins 10 et dépasse la médiane des 8 "
            "semaines précédentes de plus de 3 fois leur dispersion (1,4826 × écart absolu "
            "médian, au moins 1). Les chiffres sont ceux du tableau de bord (petits effectifs "
            "masqués)."
        ),
        "alert_settings": "Réglages des alertes",
        "alert_subscribe": "Suivre",
        "alert_silent_days": "Silencieux après (jours)",
        "alert_jumps": "Pics de blocages ou de tentatives de contournement",
        "alert_feeds": "Listes refusées",
        "alert_digest": "M'envoyer un résumé hebdomadaire par e-mail",
        "alert_no_smtp": (
            "L'e-mail n'est pas encore configuré sur ce serveur (réglages SMTP) : aucun résumé "
            "n'est envoyé d'ici là."
        ),
        "alert_silent": (
            "{region} : {count} postes silencieux depuis plus de {days} jours ({kiosks})."
        ),
        "alert_blocked_jump": (
            "{region}, {week} : {value} tentatives bloquées, pour {usual} par semaine d'habitude."
        ),
        "alert_tamper_jump": (
            "{region}, {week} : {value} tentatives de contournement, pour {usual} par semaine "
            "d'habitude."
        ),
        "alert_feed_rejections": (
            "{region}, {week} : des postes ont refusé une liste de blocage {value} fois (chacun "
            "a gardé sa liste précédente)."
        ),
        "completeness_title": "Complétude des rapports",
        "completeness_note": (
            "Attendus : postes inscrits et non retirés. Reçus : postes attendus qui ont envoyé "
            "un rapport pour la semaine. À temps : leur premier rapport de la semaine est arrivé "
            "au plus {days} jours après la fin de la semaine."
        ),
        "chart_completeness": "Complétude et ponctualité des rapports par semaine (%)",
        "kiosks_expected": "Postes attendus",
        "reports_received": "Rapports reçus",
        "reports_on_time": "Rapports à temps",
        "completeness_rate": "Complétude (%)",
        "timeliness_rate": "À temps (%)",
        "digest_subject": "Alertes sécurité des cybercafés, semaine {week} : {count}",
        "digest_intro": "Alertes de la semaine {week} dans les régions que vous suivez :",
        "digest_none": "Aucune alerte pour la semaine {week} dans les régions que vous suivez.",
        "digest_footer": (
            "Les effectifs inférieurs à {threshold} sont affichés <{threshold}, comme sur le "
            "tableau de bord. Modifiez ce que vous recevez sur la page Alertes du tableau de "
            "bord."
        ),
        "api_docs": "API",
        "api_docs_intro": "Les opérations que des scripts peuvent appeler. Le schéma en "
        "JSON OpenAPI :",
        "api_parameter": "Paramètre",
        "api_in": "Dans",
        "api_type": "Type",
        "api_required": "Obligatoire",
        "api_body": "Corps",
        "api_responses": "Réponses",
        "dhis2_title": "Échange avec DHIS2",
        "dhis2_intro": (
            "Téléversez la correspondance (JSON) entre nos indicateurs et "
            "codes de région et les identifiants DHIS2 d'éléments de "
            "données et d'unités d'organisation ; les nombres sont "
            "envoyés comme sur le tableau de bord (les nombres masqués "
            "sont omis)."
        ),
        "dhis2_file": "Fichier de correspondance",
        "dhis2_current": "Correspondance actuelle",
        "dhis2_bad": "La correspondance n'a pas été enregistrée : {detail}",
        "account_title": "Mon compte",
        "tokens_title": "Jetons d'API pour les scripts",
        "tokens_intro": "Un jeton lit les routes JSON et CSV avec vos régions, sans "
        "formulaire de connexion. Envoyez-le ainsi :",
        "token_created": "Nouveau jeton (affiché une seule fois ; copiez-le maintenant) :",
        "token_error": "Le jeton n'a pas été créé : {detail}",
        "token_created_at": "Créé le",
        "token_last_used": "Dernière utilisation",
    },
}


MESSAGES["ar"] = AR
MESSAGES["pt"] = PT
for _lang, _words in FLEET.items():
    MESSAGES[_lang].update(_words)


def translate(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` (English if missing), with ``values`` filled in."""
    text = MESSAGES.get(lang, MESSAGES["en"]).get(key) or MESSAGES["en"].get(key, key)
    return text.format(**values) if values else text


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: ``?lang=``, then the cookie, then ``Accept-Language``, then en."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(",")[:10]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"


def category_name(lang: str, category: str) -> str:
    """A blocked category's name in ``lang``; an unknown token is shown readably."""
    key = f"cat.{category}"
    text = translate(lang, key)
    return text if text != key else category.replace("_", " ").capitalize()


def column_label(lang: str, key: str) -> str:
    """Label of an indicator column, including ``blocked.<category>`` columns."""
    if key.startswith("blocked.") and key.endswith(".per_1000"):
        category = key[len("blocked.") : -len(".per_1000")]
        return f"{category_name(lang, category)} ({translate(lang, 'per_1000')})"
    if key.startswith("blocked."):
        return category_name(lang, key[len("blocked.") :])
    return translate(lang, key)
