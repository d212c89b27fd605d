"""The fleet view's words (issue 21), in every dashboard language; merged into
``i18n.MESSAGES``. Arabic and Portuguese are machine translations (docs/i18n.md)."""

FLEET: dict[str, dict[str, str]] = {
    "en": {
        "admin_fleet": "Fleet",
        "fleet_title": "Versions in use",
        "fleet_intro": (
            "What each kiosk said it runs in its latest report. Exact counts: they count "
            "machines, not people."
        ),
        "fleet_active": "Reported in the last {days} days",
        "fleet_program": "Program",
        "fleet_content": "Content pack",
        "fleet_settings": "Settings overlay",
        "fleet_version": "Version",
        "fleet_kiosks": "Kiosks",
        "fleet_builtin": "built-in",
        "fleet_no_overlay": "none",
        "fleet_not_reported": (
            "{n} enrolled kiosks have not reported yet: what they run is not known."
        ),
        "fleet_published": "Published: version {latest}.",
        "fleet_staged": (
            "Version {latest} is staged for {percent} % of kiosks and {cafes} cafés; "
            "the others stay on version {stable}."
        ),
        "fleet_nothing_published": "Nothing published.",
        "fleet_no_kiosks": "No kiosk is enrolled in this region.",
        "fleet_no_regions": "You have no region.",
    },
    "fr": {
        "admin_fleet": "Parc",
        "fleet_title": "Versions en service",
        "fleet_intro": (
            "Ce que chaque poste a indiqué dans son dernier rapport. Chiffres exacts : ils "
            "comptent des machines, pas des personnes."
        ),
        "fleet_active": "Rapport dans les {days} derniers jours",
        "fleet_program": "Programme",
        "fleet_content": "Pack de contenu",
        "fleet_settings": "Réglages de la région",
        "fleet_version": "Version",
        "fleet_kiosks": "Postes",
        "fleet_builtin": "intégré",
        "fleet_no_overlay": "aucun",
        "fleet_not_reported": (
            "{n} postes inscrits n'ont encore envoyé aucun rapport : leurs versions sont inconnues."
        ),
        "fleet_published": "Publié : version {latest}.",
        "fleet_staged": (
            "La version {latest} est déployée pour {percent} % des postes et {cafes} cafés ; "
            "les autres restent en version {stable}."
        ),
        "fleet_nothing_published": "Rien de publié.",
        "fleet_no_kiosks": "Aucun poste inscrit dans cette région.",
        "fleet_no_regions": "Vous n'avez aucune région.",
    },
    "ar": {
        "admin_fleet": "الأجهزة",
        "fleet_title": "الإصدارات المستخدمة",
        "fleet_intro": (
            "ما أعلنه كل جهاز في آخر تقرير أرسله. أعداد دقيقة: فهي تعدّ أجهزة لا أشخاصًا."
        ),
        "fleet_active": "أرسلت تقريرًا خلال آخر {days} أيام",
        "fleet_program": "البرنامج",
        "fleet_content": "حزمة المحتوى",
        "fleet_settings": "إعدادات المنطقة",
        "fleet_version": "الإصدار",
        "fleet_kiosks": "الأجهزة",
        "fleet_builtin": "المدمجة",
        "fleet_no_overlay": "لا يوجد",
        "fleet_not_reported": "{n} من الأجهزة المسجلة لم ترسل أي تقرير بعد: إصداراتها غير معروفة.",
        "fleet_published": "المنشور: الإصدار {latest}.",
        "fleet_staged": (
            "الإصدار {latest} موزّع على {percent} % من الأجهزة و{cafes} مقاهٍ؛ "
            "وتبقى الأجهزة الأخرى على الإصدار {stable}."
        ),
        "fleet_nothing_published": "لم يُنشر شيء.",
        "fleet_no_kiosks": "لا يوجد جهاز مسجل في هذه المنطقة.",
        "fleet_no_regions": "ليست لديك أي منطقة.",
    },
    "pt": {
        "admin_fleet": "Parque",
        "fleet_title": "Versões em uso",
        "fleet_intro": (
            "O que cada posto indicou no seu último relatório. Números exatos: contam "
            "máquinas, não pessoas."
        ),
        "fleet_active": "Com relatório nos últimos {days} dias",
        "fleet_program": "Programa",
        "fleet_content": "Pacote de conteúdo",
        "fleet_settings": "Configurações da região",
        "fleet_version": "Versão",
        "fleet_kiosks": "Postos",
        "fleet_builtin": "integrado",
        "fleet_no_overlay": "nenhuma",
        "fleet_not_reported": (
            "{n} postos inscritos ainda não enviaram relatório: as suas versões são desconhecidas."
        ),
        "fleet_published": "Publicado: versão {latest}.",
        "fleet_staged": (
            "A versão {latest} está em implantação para {percent} % dos postos e {cafes} cafés; "
            "os outros ficam na versão {stable}."
        ),
        "fleet_nothing_published": "Nada publicado.",
        "fleet_no_kiosks": "Nenhum posto inscrito nesta região.",
        "fleet_no_regions": "Não tem nenhuma região.",
    },
}
