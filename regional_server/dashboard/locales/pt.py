"""Portuguese messages (machine translation, not yet reviewed: docs/i18n.md)."""

PT: dict[str, str] = {
    "app_title": "Indicadores de segurança dos cibercafés",
    "login_title": "Entrar",
    "email": "E-mail",
    "password": "Palavra-passe",
    "sign_in": "Entrar",
    "sign_out": "Sair",
    "bad_login": "E-mail ou palavra-passe errados.",
    "bad_csrf": "O formulário expirou. Tente novamente.",
    "locked_out": "Demasiadas tentativas. Tente novamente dentro de {minutes} min.",
    "dashboard": "Painel",
    "admin_users": "Utilizadores",
    "admin_regions": "Regiões",
    "admin_codes": "Códigos de inscrição",
    "filters": "Filtros",
    "region": "Região",
    "all_regions": "Todas as minhas regiões",
    "country": "País",
    "all_countries": "Todos os países",
    "date_from": "De",
    "date_to": "Até",
    "apply": "Mostrar",
    "download_csv": "Descarregar CSV",
    "json": "JSON",
    "weekly_title": "Indicadores por semana",
    "blocked_title": "Tentativas bloqueadas por categoria",
    "regions_title": "Regiões",
    "countries_title": "Países",
    "silent_elsewhere": "Os quiosques de {regions} são acompanhados nos seus próprios "
    "servidores regionais: nenhum dado por quiosque sai deles.",
    "admin_children": "Servidores filhos",
    "children_intro": "Servidores regionais que podem enviar os seus números publicados a "
    "este servidor, cada um com a sua chave e as regiões ou países pelos quais pode "
    "falar. A chave de um servidor é o que este comando mostra nele:",
    "new_child": "Registar um servidor filho",
    "server_key": "Chave",
    "last_push": "Último envio",
    "pushed_note": "Os números de {regions} vêm de outros servidores regionais, tal como "
    "os publicaram. Um total ou um país soma números publicados; um número oculto "
    "(<{threshold}) não lhe acrescenta nada.",
    "week": "Semana",
    "total": "Total",
    "sessions": "Sessões",
    "notices_shown": "Avisos mostrados",
    "notices_acknowledged": "Avisos aceites",
    "feedback_helpful": "Dicas marcadas como úteis",
    "feedback_not_helpful": "Dicas marcadas como «não é para mim»",
    "ack_rate": "Taxa de aceitação (%)",
    "blocked": "Tentativas bloqueadas",
    "blocked_per_1000": "Bloqueadas por 1000 sessões",
    "tamper": "Tentativas de adulteração",
    "tamper_per_1000": "Adulterações por 1000 sessões",
    "p2p": "Deteções P2P",
    "per_1000": "por 1000 sessões",
    "kiosks_enrolled": "Postos inscritos",
    "kiosks_active": "Ativos (7 dias)",
    "kiosks_on_newest": "Na lista mais recente",
    "coverage_title": "Cobertura dos postos",
    "chart_blocked": "Tentativas bloqueadas por semana e por categoria",
    "chart_ack": "Taxa de aceitação dos avisos por semana (%)",
    "silent_title": "Postos sem relatório há mais de {days} dias",
    "silent_none": "Todos os postos enviaram relatório nos últimos {days} dias.",
    "silent_more": "{shown} de {total} mostrados.",
    "kiosk_id": "Posto",
    "cafe_name": "Cibercafé",
    "last_report": "Último relatório",
    "never": "nunca (inscrito em {date})",
    "suppressed_note": (
        "Contagens inferiores a {threshold} aparecem como <{threshold}; 0 é um zero "
        "verdadeiro; «sem dados» significa nenhum relatório. Cada contagem tem um pequeno "
        "desvio aleatório (no máximo algumas unidades), sempre o mesmo para o mesmo número, "
        "para que uma contagem oculta não possa ser deduzida comparando duas vistas."
    ),
    "no_data": "Nenhum relatório neste período.",
    "no_regions": "Ainda não foi atribuída nenhuma região à sua conta; peça a um administrador.",
    "role": "Função",
    "regions": "Regiões",
    "active": "Ativo",
    "save": "Guardar",
    "create": "Criar",
    "new_user": "Novo utilizador",
    "new_region": "Nova região",
    "new_code": "Novo código de inscrição",
    "code": "Código",
    "name": "Nome",
    "uses": "Utilizações",
    "uses_left": "Utilizações restantes",
    "expires": "Expira",
    "expires_days": "Válido por (dias)",
    "revoke": "Revogar",
    "revoked": "revogado",
    "code_created": "Novo código (mostrado uma única vez): {code}",
    "saved": "Guardado.",
    "yes": "sim",
    "no": "não",
    "language": "Idioma",
    "signed_in_as": "Sessão iniciada como {email}",
    "latest_lists": "Versões mais recentes das listas",
    "error_title": "Algo correu mal",
    "error_back": "Voltar ao painel",
    "error_not_found": "Esta página ou região não existe, ou não lhe está acessível.",
    "error_bad_filter": "Estes filtros não podem ser usados: {detail}",
    "error_bad_request": "O pedido não era válido: {detail}",
    "error_too_many": "Demasiados pedidos. Aguarde um minuto e tente novamente.",
    "error_busy": "Demasiados inícios de sessão ao mesmo tempo. Tente dentro de um minuto.",
    "error_internal": "Ocorreu um erro interno. Tente mais tarde.",
    "error_generic": "Não foi possível concluir o pedido ({status}).",
    "week_short": "S{week}",
    "week_label": "S{week} {year}",
    "hidden_title": "menos de {threshold} (oculto para proteger as pessoas)",
    "cat.csam": "Material de abuso sexual de crianças",
    "cat.abuse_material": "Material de abuso",
    "cat.grooming": "Aliciamento",
    "cat.malware": "Software malicioso",
    "cat.phishing": "Phishing",
    "cat.scam": "Burlas",
    "cat.gambling": "Jogos de azar",
    "cat.adult": "Conteúdo para adultos",
    "cat.extremism": "Extremismo violento",
    "no_data_cell": "sem dados",
    "chart_no_data": "Sem dados para estas semanas",
    "headline_title": "Este período ({weeks} semanas)",
    "no_trend": "sem comparação com o período anterior",
    "vs_previous": "face ao período anterior",
    "kiosks_reporting": "Postos ativos / inscritos",
    "kiosks_reporting_note": "relatório nos últimos 7 dias",
    "no_kiosks": "Ainda não há nenhum posto inscrito nestas regiões.",
    "api_docs": "API",
    "api_docs_intro": "As operações que os scripts podem chamar. O esquema em JSON OpenAPI:",
    "api_parameter": "Parâmetro",
    "api_in": "Em",
    "api_type": "Tipo",
    "api_required": "Obrigatório",
    "api_body": "Corpo",
    "api_responses": "Respostas",
    "dhis2_title": "Intercâmbio com o DHIS2",
    "dhis2_intro": (
        "Carregue o mapeamento (JSON) dos nossos indicadores e "
        "códigos de região para os identificadores DHIS2 de elementos "
        "de dados e unidades organizacionais; as contagens são "
        "enviadas como no painel (as ocultas são omitidas)."
    ),
    "dhis2_file": "Ficheiro de mapeamento",
    "dhis2_current": "Mapeamento atual",
    "dhis2_bad": "O mapeamento não foi guardado: {detail}",
    "account_title": "A minha conta",
    "tokens_title": "Tokens de API para scripts",
    "tokens_intro": "Um token lê as rotas JSON e CSV com as suas regiões, sem "
    "formulário de início de sessão. Envie-o como",
    "token_created": "Novo token (mostrado uma única vez; copie-o agora):",
    "token_error": "O token não foi criado: {detail}",
    "token_created_at": "Criado",
    "token_last_used": "Última utilização",
    "admin_kiosks": "Postos",
    "retire_help": (
        "Um posto retirado (cibercafé fechado, PC removido) deixa de ser esperado: sai dos "
        "números de completude, dos postos inscritos e da lista de postos silenciosos. Os seus "
        "relatórios passados ficam."
    ),
    "status": "Estado",
    "never_reported": "nunca",
    "retired_on": "retirado em {date}",
    "in_service": "em serviço",
    "retire": "Retirar",
    "unretire": "Repor em serviço",
    "role_admin": "Administrador",
    "role_coordinator": "Coordenador",
    "alerts_title": "Alertas",
    "alerts_none": "Nenhum alerta nas regiões que acompanha.",
    "alerts_rules": (
        "Um pico: a última semana completa vale pelo menos 10 e ultrapassa a mediana das 8 "
        "semanas anteriores em mais de 3 vezes a sua dispersão (1,4826 × desvio absoluto "
        "mediano, pelo menos 1). Os números são os do painel (contagens pequenas ocultas)."
    ),
    "alert_settings": "Definições de alertas",
    "alert_subscribe": "Acompanhar",
    "alert_silent_days": "Silencioso após (dias)",
    "alert_jumps": "Picos de bloqueios ou de tentativas de adulteração",
    "alert_feeds": "Listas recusadas",
    "alert_digest": "Enviar-me um resumo semanal por e-mail",
    "alert_no_smtp": (
        "O e-mail ainda não está configurado neste servidor (definições SMTP): nenhum resumo é "
        "enviado até lá."
    ),
    "alert_silent": "{region}: {count} postos silenciosos há mais de {days} dias ({kiosks}).",
    "alert_blocked_jump": (
        "{region}, {week}: {value} tentativas bloqueadas, contra {usual} por semana habitualmente."
    ),
    "alert_tamper_jump": (
        "{region}, {week}: {value} tentativas de adulteração, contra {usual} por semana "
        "habitualmente."
    ),
    "alert_feed_rejections": (
        "{region}, {week}: postos recusaram uma lista de bloqueio {value} vezes (cada um manteve "
        "a lista anterior)."
    ),
    "completeness_title": "Completude dos relatórios",
    "completeness_note": (
        "Esperados: postos inscritos e não retirados. Recebidos: postos esperados que enviaram "
        "um relatório da semana. A tempo: o primeiro relatório da semana chegou no máximo {days} "
        "dias após o fim da semana."
    ),
    "chart_completeness": "Completude e pontualidade dos relatórios por semana (%)",
    "kiosks_expected": "Postos esperados",
    "reports_received": "Relatórios recebidos",
    "reports_on_time": "Relatórios a tempo",
    "completeness_rate": "Completude (%)",
    "timeliness_rate": "A tempo (%)",
    "digest_subject": "Alertas de segurança dos cibercafés, semana {week}: {count}",
    "digest_intro": "Alertas da semana {week} nas regiões que acompanha:",
    "digest_none": "Nenhum alerta na semana {week} nas regiões que acompanha.",
    "digest_footer": (
        "Contagens abaixo de {threshold} aparecem como <{threshold}, como no painel. Altere o "
        "que recebe na página Alertas do painel."
    ),
}
