// LE BOOM dashboard: one small ES module, no framework, no CDN. State comes from the JSON API
// and stays current through the WebSocket; the page reconnects on its own and refetches what
// it shows after a reconnect, so nothing on screen is stale after a network cut or a restart.
// Charts come from ./charts.js (uPlot, vendored), loaded only by the pages that draw one.
import { chart, hourly, levels } from '/charts.js';

const I18N = {
  fr: {
    'nav.fleet': 'Flotte', 'nav.events': 'Événements', 'nav.admin': 'Admin', 'nav.logout': 'Déconnexion',
    'login.title': 'Connexion', 'login.username': "Nom d'utilisateur", 'login.password': 'Mot de passe', 'login.submit': 'Se connecter',
    'live.on': 'En direct', 'live.off': 'Déconnecté', 'banner.offline': 'Connexion perdue — reconnexion…', 'banner.stale': 'Hors ligne — dernier état connu du {t}, pas à jour',
    'fleet.search': 'Rechercher', 'sort.attention': 'À surveiller d’abord', 'sort.offline': 'Hors ligne d’abord', 'sort.paper': 'Papier critique d’abord', 'sort.name': 'Par nom', 'sort.event': 'Par événement',
    'router': 'Routeur', 'pc': 'PC', 'paper': 'Papier', 'prints': 'impressions', 'never': 'jamais vu', 'seen': 'vu',
    'c.sessions': 'Sessions', 'c.prints': 'Impr.', 'c.digital': 'Partages', 'c.gifs': 'GIF', 'c.photos': 'Photos',
    'power': 'Allumer', 'power.sending': 'Envoi…', 'code.sent': 'demande envoyée au service de contrôle', 'code.waking': 'paquets de réveil envoyés, on attend que le PC réponde', 'code.pcAnswered': 'le PC a répondu après {s} s', 'code.pcSilent': 'le PC n’a pas répondu en {s} s', 'code.notInRegistry': 'le service de contrôle ne connaît pas encore ce photomaton, réessayez dans un instant', 'code.noMacAddress': 'pas d’adresse MAC valide : à renseigner dans la fiche du photomaton', 'code.noWakeTarget': 'ni cible de réveil ni IP du routeur dans la fiche du photomaton', 'code.badSecureOnPassword': 'mot de passe SecureOn invalide dans la configuration du service de contrôle', 'code.sendFailed': 'le paquet de réveil n’a pas pu partir', 'code.relayFailed': 'le routeur n’a pas pu réveiller le PC', 'code.controlUnavailable': 'le service de contrôle ne répond pas : rien n’a été fait', 'phase.pending': 'En cours', 'phase.succeeded': 'Allumé', 'phase.failed': 'Échec',
    'no.event': 'Aucun événement en cours', 'no.booths': 'Aucun photomaton enregistré.', 'today': 'Aujourd’hui', 'counts.event': 'Depuis le début de l’événement',
    'booth.reset': 'Nouveau rouleau', 'booth.lastRoll': 'Dernier rouleau déclaré', 'audit.anyone': 'Tout le monde', 'audit.from': 'Depuis', 'audit.to': 'Jusqu’à', 'audit.filter': 'Filtrer', 'booth.agent': 'Agent', 'booth.backlog': 'en attente d’envoi', 'booth.paper': 'Papier au fil du temps', 'printer': 'Imprimante', 'printer.ready': 'prête', 'printer.printing': 'impression en cours', 'printer.offline': 'hors ligne', 'printer.paper_out': 'plus de papier', 'printer.error': 'en erreur', 'cmd.title': 'Commandes à distance', 'cmd.send': 'Envoyer', 'cmd.name': 'Commande', 'cmd.status': 'État', 'cmd.output': 'Sortie', 'cmd.queued': 'En attente', 'cmd.sent': 'En cours sur le PC', 'cmd.succeeded': 'Réussie', 'cmd.failed': 'Échec', 'cmd.expired': 'Expirée (PC injoignable)', 'cmd.none': 'Aucune commande envoyée.', 'agent.silent': 'agent muet', 'agent.seen': 'agent vu', 'pair.button': 'Associer un PC', 'pair.title': 'Associer le PC du photomaton', 'pair.until': 'Valable jusqu’à {t}, une seule fois.', 'pair.how': 'Sur le PC du photomaton, dans une invite de commandes (administrateur) :', 'pair.url': 'URL_DE_L_INGEST', 'speed.request': 'Tester le débit maintenant', 'speed.requested': 'Test demandé à {t} : le résultat arrive d’ici une minute si le PC est en ligne', 'booth.speed': 'Tests de débit', 'booth.hourly': 'Médias par heure', 'booth.actions': 'Actions récentes', 'booth.details': 'Détails',
    'events.active': 'En cours', 'events.completed': 'Terminés', 'events.client': 'Client', 'events.type': 'Type', 'events.date': 'Date', 'events.booth': 'Photomaton', 'events.notion': 'Notion', 'events.sync': 'Synchroniser Notion', 'event.report': 'Bilan pour le client', 'event.booths': 'Par photomaton', 'event.hours': 'Heure par heure (Paris)', 'event.hour': 'Heure', 'status.ACTIVE': 'en cours', 'status.COMPLETED': 'terminé', 'status.ARCHIVED': 'archivé',
    'admin.booths': 'Photomatons', 'admin.users': 'Utilisateurs', 'admin.audit': 'Journal', 'admin.create': 'Créer', 'admin.save': 'Enregistrer', 'admin.key': 'Clé agent', 'admin.edit': 'Modifier', 'admin.delete': 'Supprimer',
    'nav.alerts': 'Alertes', 'alerts.kind': 'Alerte', 'alerts.booth': 'Photomaton', 'alerts.since': 'Depuis', 'alerts.open': 'Alertes ouvertes', 'alerts.resolved': 'Résolues', 'alerts.none': 'Aucune alerte ouverte.', 'alerts.ack': 'Pris en charge', 'alerts.acked': 'pris en charge par {who}', 'alerts.banner': '{n} alerte(s) à traiter',
    'alert.paper_warning': 'Papier bas', 'alert.paper_critical': 'Papier critique', 'alert.booth_down': 'Photomaton injoignable', 'alert.agent_silent': 'Agent muet', 'alert.printer_error': 'Imprimante en erreur', 'alert.power_on_failed': 'Allumage échoué', 'alert.notion_sync_failing': 'Synchronisation Notion en échec',
    'deliv.title': 'Messages', 'deliv.sent': 'envoyé', 'deliv.queued': 'en file', 'deliv.deferred': 'heures calmes', 'deliv.retrying': 'nouvel essai', 'deliv.failed': 'échec', 'deliv.skipped': 'non envoyé', 'deliv.none': 'aucun message envoyé', 'ch.email': 'E-mail', 'ch.telegram': 'Telegram', 'ch.webhook': 'Webhook',
    'ch.title': 'Mes notifications', 'ch.why': 'Où vous prévenir des alertes, et lesquelles. Pendant vos heures calmes (heure de Paris), les messages attendent leur fin.', 'ch.kind': 'Canal', 'ch.target': 'Adresse, chat Telegram ou URL', 'ch.kinds': 'Alertes', 'ch.quiet': 'Heures calmes', 'ch.quietFrom': 'De', 'ch.quietTo': 'À', 'ch.add': 'Ajouter', 'ch.test': 'Envoyer un test', 'ch.tested': 'Message de test envoyé', 'ch.none': 'Aucun canal : vous ne recevez aucune alerte.',
    'mute.title': 'Sourdine (maintenance)', 'mute.why': 'Pendant une sourdine, les alertes s’ouvrent sur le tableau de bord mais personne n’est prévenu.', 'mute.booth': 'Photomaton', 'mute.fleet': 'Toute la flotte', 'mute.for': 'Durée', 'mute.reason': 'Raison', 'mute.add': 'Mettre en sourdine', 'mute.until': 'Jusqu’à', 'mute.by': 'Par', 'mute.end': 'Lever', 'mute.none': 'Aucune sourdine en cours.', 'mute.1h': '1 heure', 'mute.4h': '4 heures', 'mute.24h': '24 heures', 'mute.72h': '3 jours',
    'refused.title': 'Lignes refusées', 'refused.why': 'Ces lignes n’ont pas été comptées (le reste de leur lot l’a été) : souvent l’horloge du PC qui est fausse.', 'refused.reason': 'Raison', 'refused.line': 'Ligne reçue', 'dead.title': 'Messages mis de côté', 'dead.why': 'Messages que la base refuse pour toujours : ils ne bloquent plus rien, mais rien n’a été compté pour eux.', 'dead.booth': 'Photomaton', 'dead.replay': 'Rejouer', 'dead.replay.confirm': 'Remettre ce message dans le flux, maintenant que sa cause est corrigée ?',
    'admin.key.once': 'Copiez cette clé maintenant : elle ne sera plus affichée.', 'admin.copy': 'Copier', 'admin.close': 'Fermer',
    'f.name': 'Nom', 'f.hostname': 'Nom d’hôte', 'f.tailscaleIp': 'IP Tailscale du PC', 'f.routerTailscaleIp': 'IP Tailscale du routeur', 'f.macAddress': 'Adresse MAC', 'f.wakeTarget': 'Cible WoL (hôte:port)', 'f.warningThreshold': 'Seuil alerte', 'f.criticalThreshold': 'Seuil critique', 'f.paperCapacity': 'Capacité', 'f.downAfterSecs': 'Injoignable après (s)', 'f.silentAfterSecs': 'Agent muet après (s)',
    'f.username': 'Utilisateur', 'f.password': 'Mot de passe', 'f.role': 'Rôle', 'f.action': 'Action', 'f.when': 'Quand', 'f.who': 'Qui', 'f.what': 'Détails',
    'role.ADMIN': 'Admin', 'role.INSTALLER': 'Installateur', 'role.VIEWER': 'Lecteur', 'saved': 'Enregistré', 'speed.down': 'Desc.', 'speed.up': 'Mont.', 'speed.ping': 'Ping',
    'chart.hour': 'Heure (Paris)', 'chart.count': 'Nombre', 'chart.time': 'Heure (Paris)', 'chart.prints': 'Impressions restantes', 'chart.mbps': 'Mbit/s', 'chart.down': 'Descendant', 'chart.up': 'Montant',
    'event.window': 'Fenêtre de l’événement', 'event.paper': 'Papier pendant l’événement', 'event.uptime': 'Disponibilité pendant l’événement', 'event.pc': 'PC joignable', 'event.router': 'Routeur joignable', 'event.outages': 'Coupures du PC', 'event.observed': 'Observé', 'event.noProbe': 'jamais sondé', 'event.archive': 'Archiver', 'event.unarchive': 'Désarchiver', 'event.archiveAsk': 'Archiver « {c} » ? Il quittera la liste des terminés ; ses chiffres et exports restent disponibles.', 'event.noMedia': 'Aucun média pour cet événement.',
    'events.search': 'Rechercher', 'events.clientSearch': 'Client', 'events.anyType': 'Tous les types', 'events.from': 'Du', 'events.to': 'Au', 'events.archived': 'Archivés', 'events.clear': 'Effacer', 'events.none': 'Aucun événement ne correspond.', 'events.noneActive': 'Aucun événement en cours.', 'events.rangeExport': 'Exporter la période', 'events.rangeHint': 'Choisissez « Du » et « Au » pour exporter les chiffres de la période (facturation).', 'events.more': 'Plus',
    'trouble.down': 'Injoignable (routeur et PC)', 'trouble.pcDown': 'PC injoignable', 'trouble.printer': 'Imprimante en erreur', 'trouble.paperCritical': 'Papier critique', 'trouble.paperWarning': 'Papier bas', 'trouble.agentSilent': 'Agent muet', 'trouble.ok': 'Tout va bien',
    'sum.title': 'État de la flotte', 'sum.all': 'photomatons', 'sum.fine': 'sans souci', 'sum.down': 'PC injoignables', 'sum.paperCritical': 'papier critique', 'sum.paperWarning': 'papier bas', 'sum.agentSilent': 'agents muets', 'sum.printer': 'imprimantes en erreur', 'sum.alerts': 'alertes ouvertes', 'sum.event': 'en événement',
    'col.name': 'Photomaton', 'col.state': 'État', 'col.event': 'Événement', 'col.seen': 'Vu', 'view.label': 'Affichage', 'view.cards': 'Cartes', 'view.list': 'Liste', 'up': 'répond', 'down': 'ne répond pas', 'fleet.none': 'Aucun photomaton ne correspond à ce filtre.', 'sort.label': 'Trier',
    'err.login': 'Nom d’utilisateur ou mot de passe incorrect.', 'err.passwordShort': 'Mot de passe trop court : au moins {n} caractères.', 'err.mac': 'Adresse MAC invalide (format 00:1a:2b:3c:4d:5e).', 'err.capacity': 'Un rouleau tient au plus {n} impressions sur ce photomaton.', 'err.tooMany': 'Trop de tentatives de connexion : réessayez plus tard.', 'err.rateLimited': 'Trop de demandes : réessayez dans un instant.', 'err.forbidden': 'Votre rôle ne permet pas cette action.', 'err.csrf': 'La page a expiré : rechargez-la.', 'err.notFound': 'Introuvable (supprimé entre-temps ?).', 'err.conflict': 'Impossible dans l’état actuel.', 'err.unavailable': 'Service momentanément indisponible : réessayez dans un instant.', 'err.tooLarge': 'Trop volumineux.', 'err.invalid': 'Valeur refusée.', 'err.internal': 'Erreur du serveur.', 'err.offline': 'Pas de réseau.',
    'power.result': 'Résultat de l’allumage', 'login.or': 'ou', 'login.sso': 'Se connecter avec {p}', 'f.signIn': 'Connexion', 'f.email': 'E-mail (compte d’entreprise)', 'user.sso': 'compte d’entreprise lié', 'user.password': 'mot de passe', 'user.noPassword': 'sans mot de passe', 'err.passwordOff': 'La connexion par mot de passe est désactivée pour ce compte : utilisez le compte d’entreprise.', 'admin.actions': 'Actions', 'admin.deleteAsk': 'Supprimer le photomaton « {n} » ? Son agent sera refusé et ses chiffres ne seront plus affichés.', 'admin.deleteUserAsk': 'Supprimer le compte « {n} » ? Ses sessions sont fermées.', 'key.title': 'Nouvelle clé agent pour {n}', 'key.consequence': 'La clé actuelle cessera de fonctionner immédiatement : l’agent du PC sera refusé tant que la nouvelle clé n’y est pas installée (ou que le PC n’est pas réassocié).', 'key.lastSeen': 'Agent vu pour la dernière fois le {t}.', 'key.cancel': 'Annuler', 'key.replace': 'Remplacer la clé', 'booth.resetHint': '0 à {n}, vide : rouleau plein', 'events.synced': 'Synchronisé le {t} : {read} pages lues, {up} mises à jour, {done} terminées.', 'events.unmatched': 'Photomaton inconnu pour : {list}.',
    'audit.photomaton.create': 'Photomaton créé', 'audit.photomaton.update': 'Photomaton modifié', 'audit.photomaton.delete': 'Photomaton supprimé', 'audit.photomaton.api_key': 'Nouvelle clé agent', 'audit.photomaton.paper_reset': 'Nouveau rouleau', 'audit.photomaton.power_on': 'Allumage demandé', 'audit.user.create': 'Compte créé', 'audit.user.update': 'Compte modifié', 'audit.user.delete': 'Compte supprimé', 'audit.auth.login': 'Connexion', 'audit.auth.logout': 'Déconnexion', 'audit.notion.sync': 'Synchronisation Notion', 'audit.event.archive': 'Événement archivé', 'audit.event.unarchive': 'Événement désarchivé', 'audit.alert.opened': 'Alerte ouverte', 'audit.alert.resolved': 'Alerte résolue', 'audit.alert.ack': 'Alerte prise en charge', 'audit.alert.mute': 'Sourdine', 'audit.auth.login_failed': 'Connexion refusée', 'audit.dead_letter.replay': 'Message rejoué', 'audit.photomaton.api_key_restored': 'Clé agent remise', 'audit.photomaton.command': 'Commande à distance', 'audit.photomaton.paired': 'PC associé', 'audit.photomaton.pairing_code': 'Code d’association', 'audit.photomaton.speed_test_request': 'Test de débit demandé',
  },
  en: {
    'nav.fleet': 'Fleet', 'nav.events': 'Events', 'nav.admin': 'Admin', 'nav.logout': 'Sign out',
    'login.title': 'Sign in', 'login.username': 'Username', 'login.password': 'Password', 'login.submit': 'Sign in',
    'live.on': 'Live', 'live.off': 'Disconnected', 'banner.offline': 'Connection lost — reconnecting…', 'banner.stale': 'Offline — last known state from {t}, not current',
    'fleet.search': 'Search', 'sort.attention': 'Needs attention first', 'sort.offline': 'Offline first', 'sort.paper': 'Paper critical first', 'sort.name': 'By name', 'sort.event': 'By event',
    'router': 'Router', 'pc': 'PC', 'paper': 'Paper', 'prints': 'prints', 'never': 'never seen', 'seen': 'seen',
    'c.sessions': 'Sessions', 'c.prints': 'Prints', 'c.digital': 'Shares', 'c.gifs': 'GIFs', 'c.photos': 'Photos',
    'power': 'Power on', 'power.sending': 'Sending…', 'code.sent': 'request sent to the control service', 'code.waking': 'wake-up packets sent, waiting for the PC to answer', 'code.pcAnswered': 'the PC answered after {s} s', 'code.pcSilent': 'the PC did not answer within {s} s', 'code.notInRegistry': 'the control service does not know this booth yet, try again in a moment', 'code.noMacAddress': 'no valid MAC address: set it in the booth’s details', 'code.noWakeTarget': 'neither a wake target nor a router IP in the booth’s details', 'code.badSecureOnPassword': 'invalid SecureOn password in the control service’s configuration', 'code.sendFailed': 'the wake-up packet could not be sent', 'code.relayFailed': 'the router could not wake the PC', 'code.controlUnavailable': 'the control service does not answer: nothing was done', 'phase.pending': 'In progress', 'phase.succeeded': 'Up', 'phase.failed': 'Failed',
    'no.event': 'No event under way', 'no.booths': 'No booth registered yet.', 'today': 'Today', 'counts.event': 'Since the event began',
    'booth.reset': 'New roll', 'booth.lastRoll': 'Last roll declared', 'audit.anyone': 'Anyone', 'audit.from': 'From', 'audit.to': 'To', 'audit.filter': 'Filter', 'booth.agent': 'Agent', 'booth.backlog': 'waiting to be sent', 'booth.paper': 'Paper over time', 'printer': 'Printer', 'printer.ready': 'ready', 'printer.printing': 'printing', 'printer.offline': 'offline', 'printer.paper_out': 'out of paper', 'printer.error': 'in error', 'cmd.title': 'Remote commands', 'cmd.send': 'Send', 'cmd.name': 'Command', 'cmd.status': 'Status', 'cmd.output': 'Output', 'cmd.queued': 'Queued', 'cmd.sent': 'Running on the PC', 'cmd.succeeded': 'Succeeded', 'cmd.failed': 'Failed', 'cmd.expired': 'Expired (PC unreachable)', 'cmd.none': 'No command sent yet.', 'agent.silent': 'agent silent', 'agent.seen': 'agent seen', 'pair.button': 'Pair a PC', 'pair.title': 'Pair the booth’s PC', 'pair.until': 'Valid until {t}, once.', 'pair.how': 'On the booth PC, in a command prompt (as administrator):', 'pair.url': 'INGEST_URL', 'speed.request': 'Test the link now', 'speed.requested': 'Test requested at {t}: the result arrives within a minute if the PC is online', 'booth.speed': 'Speed tests', 'booth.hourly': 'Media per hour', 'booth.actions': 'Recent actions', 'booth.details': 'Details',
    'events.active': 'Under way', 'events.completed': 'Completed', 'events.client': 'Client', 'events.type': 'Type', 'events.date': 'Date', 'events.booth': 'Booth', 'events.notion': 'Notion', 'events.sync': 'Sync Notion', 'event.report': 'Report for the client', 'event.booths': 'Per booth', 'event.hours': 'Hour by hour (Paris)', 'event.hour': 'Hour', 'status.ACTIVE': 'under way', 'status.COMPLETED': 'completed', 'status.ARCHIVED': 'archived',
    'admin.booths': 'Booths', 'admin.users': 'Users', 'admin.audit': 'Audit log', 'admin.create': 'Create', 'admin.save': 'Save', 'admin.key': 'Agent key', 'admin.edit': 'Edit', 'admin.delete': 'Delete',
    'nav.alerts': 'Alerts', 'alerts.kind': 'Alert', 'alerts.booth': 'Booth', 'alerts.since': 'Since', 'alerts.open': 'Open alerts', 'alerts.resolved': 'Resolved', 'alerts.none': 'No open alert.', 'alerts.ack': 'Acknowledge', 'alerts.acked': 'acknowledged by {who}', 'alerts.banner': '{n} alert(s) to handle',
    'alert.paper_warning': 'Paper low', 'alert.paper_critical': 'Paper critical', 'alert.booth_down': 'Booth unreachable', 'alert.agent_silent': 'Agent silent', 'alert.printer_error': 'Printer in error', 'alert.power_on_failed': 'Power-on failed', 'alert.notion_sync_failing': 'Notion sync failing',
    'deliv.title': 'Messages', 'deliv.sent': 'sent', 'deliv.queued': 'queued', 'deliv.deferred': 'quiet hours', 'deliv.retrying': 'retrying', 'deliv.failed': 'failed', 'deliv.skipped': 'not sent', 'deliv.none': 'no message sent', 'ch.email': 'E-mail', 'ch.telegram': 'Telegram', 'ch.webhook': 'Webhook',
    'ch.title': 'My notifications', 'ch.why': 'Where to tell you of alerts, and which ones. During your quiet hours (Paris time), messages wait for their end.', 'ch.kind': 'Channel', 'ch.target': 'Address, Telegram chat or URL', 'ch.kinds': 'Alerts', 'ch.quiet': 'Quiet hours', 'ch.quietFrom': 'From', 'ch.quietTo': 'To', 'ch.add': 'Add', 'ch.test': 'Send a test', 'ch.tested': 'Test message sent', 'ch.none': 'No channel: you receive no alert.',
    'mute.title': 'Mute (maintenance)', 'mute.why': 'While muted, alerts open on the dashboard but nobody is told.', 'mute.booth': 'Booth', 'mute.fleet': 'The whole fleet', 'mute.for': 'For', 'mute.reason': 'Reason', 'mute.add': 'Mute', 'mute.until': 'Until', 'mute.by': 'By', 'mute.end': 'Unmute', 'mute.none': 'Nothing muted.', 'mute.1h': '1 hour', 'mute.4h': '4 hours', 'mute.24h': '24 hours', 'mute.72h': '3 days',
    'refused.title': 'Refused lines', 'refused.why': 'These lines were not counted (the rest of their batch was): often the PC’s clock is wrong.', 'refused.reason': 'Reason', 'refused.line': 'Line received', 'dead.title': 'Messages set aside', 'dead.why': 'Messages the database refuses for good: they no longer block anything, but nothing was counted for them.', 'dead.booth': 'Booth', 'dead.replay': 'Replay', 'dead.replay.confirm': 'Put this message back on its stream, now that its cause is fixed?',
    'admin.key.once': 'Copy this key now: it will not be shown again.', 'admin.copy': 'Copy', 'admin.close': 'Close',
    'f.name': 'Name', 'f.hostname': 'Hostname', 'f.tailscaleIp': 'PC Tailscale IP', 'f.routerTailscaleIp': 'Router Tailscale IP', 'f.macAddress': 'MAC address', 'f.wakeTarget': 'WoL target (host:port)', 'f.warningThreshold': 'Warning at', 'f.criticalThreshold': 'Critical at', 'f.paperCapacity': 'Capacity', 'f.downAfterSecs': 'Unreachable after (s)', 'f.silentAfterSecs': 'Agent silent after (s)',
    'f.username': 'User', 'f.password': 'Password', 'f.role': 'Role', 'f.action': 'Action', 'f.when': 'When', 'f.who': 'Who', 'f.what': 'Details',
    'role.ADMIN': 'Admin', 'role.INSTALLER': 'Installer', 'role.VIEWER': 'Viewer', 'saved': 'Saved', 'speed.down': 'Down', 'speed.up': 'Up', 'speed.ping': 'Ping',
    'chart.hour': 'Hour (Paris)', 'chart.count': 'Count', 'chart.time': 'Time (Paris)', 'chart.prints': 'Prints left', 'chart.mbps': 'Mbit/s', 'chart.down': 'Download', 'chart.up': 'Upload',
    'event.window': 'Event window', 'event.paper': 'Paper during the event', 'event.uptime': 'Availability during the event', 'event.pc': 'PC reachable', 'event.router': 'Router reachable', 'event.outages': 'PC outages', 'event.observed': 'Observed', 'event.noProbe': 'never probed', 'event.archive': 'Archive', 'event.unarchive': 'Unarchive', 'event.archiveAsk': 'Archive “{c}”? It leaves the completed list; its figures and exports stay available.', 'event.noMedia': 'No media for this event.',
    'events.search': 'Search', 'events.clientSearch': 'Client', 'events.anyType': 'All types', 'events.from': 'From', 'events.to': 'To', 'events.archived': 'Archived', 'events.clear': 'Clear', 'events.none': 'No event matches.', 'events.noneActive': 'No event under way.', 'events.rangeExport': 'Export the period', 'events.rangeHint': 'Pick “From” and “To” to export the period’s figures (invoicing).', 'events.more': 'More',
    'trouble.down': 'Unreachable (router and PC)', 'trouble.pcDown': 'PC unreachable', 'trouble.printer': 'Printer in error', 'trouble.paperCritical': 'Paper critical', 'trouble.paperWarning': 'Paper low', 'trouble.agentSilent': 'Agent silent', 'trouble.ok': 'All good',
    'sum.title': 'Fleet status', 'sum.all': 'booths', 'sum.fine': 'all good', 'sum.down': 'PCs unreachable', 'sum.paperCritical': 'paper critical', 'sum.paperWarning': 'paper low', 'sum.agentSilent': 'agents silent', 'sum.printer': 'printers in error', 'sum.alerts': 'open alerts', 'sum.event': 'at an event',
    'col.name': 'Booth', 'col.state': 'State', 'col.event': 'Event', 'col.seen': 'Seen', 'view.label': 'View', 'view.cards': 'Cards', 'view.list': 'List', 'up': 'answers', 'down': 'does not answer', 'fleet.none': 'No booth matches this filter.', 'sort.label': 'Sort',
    'err.login': 'Wrong username or password.', 'err.passwordShort': 'Password too short: at least {n} characters.', 'err.mac': 'Not a MAC address (like 00:1a:2b:3c:4d:5e).', 'err.capacity': 'A roll holds at most {n} prints on this booth.', 'err.tooMany': 'Too many sign-in attempts: try again later.', 'err.rateLimited': 'Too many requests: try again in a moment.', 'err.forbidden': 'Your role does not allow this.', 'err.csrf': 'The page expired: reload it.', 'err.notFound': 'Not found (deleted meanwhile?).', 'err.conflict': 'Not possible in the current state.', 'err.unavailable': 'Service unavailable for a moment: try again.', 'err.tooLarge': 'Too large.', 'err.invalid': 'Value refused.', 'err.internal': 'Server error.', 'err.offline': 'No network.',
    'power.result': 'Power-on result', 'login.or': 'or', 'login.sso': 'Sign in with {p}', 'f.signIn': 'Sign-in', 'f.email': 'E-mail (company account)', 'user.sso': 'company account bound', 'user.password': 'password', 'user.noPassword': 'no password', 'err.passwordOff': 'Password sign-in is switched off for this account: use the company account.', 'admin.actions': 'Actions', 'admin.deleteAsk': 'Delete the booth “{n}”? Its agent will be refused and its figures no longer shown.', 'admin.deleteUserAsk': 'Delete the account “{n}”? Its sessions are closed.', 'key.title': 'New agent key for {n}', 'key.consequence': 'The current key stops working at once: the PC’s agent is refused until the new key is installed there (or the PC is paired again).', 'key.lastSeen': 'Agent last seen on {t}.', 'key.cancel': 'Cancel', 'key.replace': 'Replace the key', 'booth.resetHint': '0 to {n}, empty: a full roll', 'events.synced': 'Synced on {t}: {read} pages read, {up} updated, {done} completed.', 'events.unmatched': 'Unknown booth for: {list}.',
    'audit.photomaton.create': 'Booth created', 'audit.photomaton.update': 'Booth changed', 'audit.photomaton.delete': 'Booth deleted', 'audit.photomaton.api_key': 'New agent key', 'audit.photomaton.paper_reset': 'New roll', 'audit.photomaton.power_on': 'Power-on asked', 'audit.user.create': 'Account created', 'audit.user.update': 'Account changed', 'audit.user.delete': 'Account deleted', 'audit.auth.login': 'Sign-in', 'audit.auth.logout': 'Sign-out', 'audit.notion.sync': 'Notion sync', 'audit.event.archive': 'Event archived', 'audit.event.unarchive': 'Event unarchived', 'audit.alert.opened': 'Alert opened', 'audit.alert.resolved': 'Alert resolved', 'audit.alert.ack': 'Alert taken', 'audit.alert.mute': 'Mute', 'audit.auth.login_failed': 'Sign-in refused', 'audit.dead_letter.replay': 'Message replayed', 'audit.photomaton.api_key_restored': 'Agent key restored', 'audit.photomaton.command': 'Remote command', 'audit.photomaton.paired': 'PC paired', 'audit.photomaton.pairing_code': 'Pairing code', 'audit.photomaton.speed_test_request': 'Speed test asked',
  },
};

const RANK = { VIEWER: 1, INSTALLER: 2, ADMIN: 3 };
const state = { me: null, booths: new Map(), events: new Map(), alerts: new Map(), actions: new Map(), socket: null, live: false, retry: 0, sort: 'attention', filter: '' };
let lang = localStorage.getItem('lang') || 'fr';
const $ = (sel, root = document) => root.querySelector(sel);
const t = (key) => I18N[lang][key] ?? I18N.fr[key] ?? key;
const may = (role) => state.me && RANK[state.me.role] >= RANK[role];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.me) headers['X-CSRF-Token'] = state.me.csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  // An answer the service worker kept, the network being down: shown, marked stale.
  if (method === 'GET' && path.startsWith('/api/photomatons?limit=1000')) {
    const stale = res.headers.get('x-boom-stale');
    if ((state.stale || null) !== (stale || null)) { state.stale = stale; queueMicrotask(chrome); }
  }
  if (res.status === 401 && path !== '/api/auth/login') { signedOut(); throw new Error(data?.message || 'unauthorized'); }
  if (!res.ok) throw Object.assign(new Error(data?.message || res.statusText), { status: res.status, data });
  return data;
}

/**
 * A refusal from the server in the person's language: known messages and error codes are
 * translated here; the server's English text stays beside it as the detail.
 */
const KNOWN_ERRORS = [
  [/wrong username or password/i, 'err.login'],
  [/password: at least (\d+) characters/i, 'err.passwordShort'],
  [/is not a MAC address/i, 'err.mac'],
  [/more than this booth's paper capacity of (\d+)/i, 'err.capacity'],
  [/too many failed sign-ins/i, 'err.tooMany'],
  [/password sign-in is switched off/i, 'err.passwordOff'],
];
function explain(err) {
  const message = err?.message || String(err);
  for (const [pattern, key] of KNOWN_ERRORS) {
    const found = message.match(pattern);
    if (found) return t(key).replace('{n}', found[1] ?? '');
  }
  const code = { rate_limited: 'err.rateLimited', forbidden: 'err.forbidden', csrf: 'err.csrf', not_found: 'err.notFound', conflict: 'err.conflict', unavailable: 'err.unavailable', payload_too_large: 'err.tooLarge', unprocessable: 'err.invalid', bad_request: 'err.invalid', internal: 'err.internal' }[err?.data?.error];
  return code ? t(code) : (err?.status === undefined && !navigator.onLine ? t('err.offline') : message);
}
/** The refusal as a line of the page: the translation, then the server's words. */
function refusal(err) {
  const said = explain(err), detail = err?.message || '';
  return [said, said !== detail && detail ? h('small', { class: 'muted', text: ` (${detail})` }) : null];
}
/** Shows what happened next to what was done: `ok` text, or the refusal. */
function outcome(el, ok, err) {
  el.className = err ? 'error' : 'ok';
  el.replaceChildren(...(err ? refusal(err) : [ok]));
}

function ago(iso) {
  if (!iso) return t('never');
  const seconds = Math.round((new Date(iso) - Date.now()) / 1000);
  const fmt = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return fmt.format(seconds, 'second');
  if (abs < 3600) return fmt.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return fmt.format(Math.round(seconds / 3600), 'hour');
  return fmt.format(Math.round(seconds / 86400), 'day');
}
const seen = (iso) => iso ? `${t('seen')} ${ago(iso)}` : t('never');
const day = (iso) => iso ? new Date(iso).toLocaleDateString(lang === 'fr' ? 'fr-FR' : 'en-GB') : '—';
const when = (iso) => iso ? new Date(iso).toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB') : '—';

// ---------------------------------------------------------------------------------------- chrome
function chrome() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('#lang').textContent = lang === 'fr' ? 'EN' : 'FR';
  $('#nav').hidden = !state.me;
  $('#logout').hidden = !state.me;
  $('#nav-admin').hidden = !may('ADMIN');
  $('#user').textContent = state.me ? `${state.me.username} · ${t('role.' + state.me.role)}` : '';
  const live = $('#live');
  live.hidden = !state.me;
  live.className = 'live ' + (state.live ? 'on' : 'off');
  live.textContent = t(state.live ? 'live.on' : 'live.off');
  $('#banner').hidden = !state.me || ((state.live || state.retry === 0) && !state.stale);
  $('#banner').textContent = state.stale
    ? t('banner.stale').replace('{t}', Number.isNaN(Date.parse(state.stale)) ? '—' : when(state.stale))
    : t('banner.offline');
  $('#banner').dataset.stale = state.stale ? 'true' : 'false';
  const waiting = [...state.alerts.values()].filter((a) => a.state === 'open').length;
  $('#alert-banner').hidden = !state.me || waiting === 0 || location.hash.startsWith('#/alerts');
  $('#alert-banner').textContent = t('alerts.banner').replace('{n}', waiting);
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === '#' + (location.hash.slice(1).split('/').slice(0, 2).join('/') || '/'));
}

function signedOut() {
  state.me = null;
  navigator.serviceWorker?.controller?.postMessage('signed-out');
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
  state.live = false; state.retry = 0;
  location.hash = '#/login';
  render();
}

// --------------------------------------------------------------------------------------- live
function connect() {
  if (!state.me || state.socket) return;
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  state.socket = socket;
  socket.onopen = async () => {
    state.live = true;
    const reconnected = state.retry > 0;
    state.retry = 0;
    chrome();
    if (reconnected) { await loadFleet(); render(); }
  };
  socket.onmessage = (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    if (frame.event === 'photomaton:updated') {
      if (frame.data.deleted) state.booths.delete(frame.data.id); else state.booths.set(frame.data.id, frame.data);
      updateBooth(frame.data.id);
    } else if (frame.event === 'events:updated') {
      state.events.set(frame.data.id, frame.data);
      if (location.hash.startsWith('#/events')) refreshEvents();
      else if (location.hash === `#/event/${frame.data.id}`) render();
    } else if (frame.event === 'photomaton:command') {
      if (state.commandsOf === frame.data.photomatonId) {
        state.commands.set(frame.data.id, frame.data);
        $('[data-command-rows]')?.replaceChildren(...commandRows());
      }
    } else if (frame.event === 'photomaton:action') {
      const previous = state.actions.get(frame.data.photomatonId);
      // An outcome is final: a late "pending" of the same action does not undo it.
      if (previous?.actionId === frame.data.actionId && previous.phase !== 'pending' && frame.data.phase === 'pending') return;
      state.actions.set(frame.data.photomatonId, frame.data);
      updateBooth(frame.data.photomatonId);
    } else if (frame.event === 'alert:updated') {
      if (frame.data.state === 'resolved') state.alerts.delete(frame.data.id); else state.alerts.set(frame.data.id, frame.data);
      chrome();
      if (onFleet()) scheduleSummary();
      // Not while a person fills in a form of the page: what they type would be lost.
      if (location.hash.startsWith('#/alerts') && !document.activeElement?.closest('form')) render();
    } else if (frame.event === 'live:resync') {
      // This page fell behind and frames were skipped: the booths were just resent; reload
      // what else the page shows.
      if (location.hash.startsWith('#/events') || location.hash.startsWith('#/booth/')) render();
    }
  };
  socket.onclose = async () => {
    state.socket = null; state.live = false;
    state.retry += 1;
    chrome();
    // A closed socket may be a signed-out session (401: stop); a gateway away: keep trying.
    try { await api('GET', '/api/auth/me'); } catch (err) { if (!state.me) return; }
    const delay = Math.min(30000, 1000 * 2 ** Math.min(state.retry - 1, 5)) * (0.75 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

async function loadFleet() {
  const [page, open] = await Promise.all([api('GET', '/api/photomatons?limit=1000'), api('GET', '/api/alerts?state=open&limit=500').catch(() => ({ items: [] }))]);
  state.booths = new Map(page.items.map((b) => [b.id, b]));
  state.alerts = new Map(open.items.map((a) => [a.id, a]));
}

// ------------------------------------------------------------------------------------- alerts
const ALERT_KINDS = ['paper_warning', 'paper_critical', 'booth_down', 'agent_silent', 'printer_error', 'power_on_failed', 'notion_sync_failing'];

/** Where an alert's messages went: one line per channel and transition. */
function deliveries(a) {
  if (!a.deliveries?.length) return h('span', { class: 'muted', text: a.state === 'resolved' ? '' : t('deliv.none') });
  return h('ul', { class: 'deliveries' }, ...a.deliveries.map((d) => h('li', { class: `delivery ${d.state}`, 'data-delivery': d.channelKind, 'data-delivery-state': d.state, title: d.error || '' },
    [t('ch.' + d.channelKind), d.owner || '—', '·', d.transition === 'resolved' ? t('alerts.resolved').toLowerCase() : null, t('deliv.' + d.state) + (d.attempts > 1 ? ` (${d.attempts})` : '')].filter(Boolean).join(' '))));
}

async function alerts() {
  const [open, resolved, channels, mutes] = await Promise.all([api('GET', '/api/alerts?state=open&limit=200'), api('GET', '/api/alerts?state=resolved&limit=50'),
    api('GET', '/api/notification-channels'), api('GET', '/api/alert-mutes')]);
  state.alerts = new Map(open.items.map((a) => [a.id, a]));
  // Grouped per booth (fleet-wide ones first), newest first within a booth.
  const boothName = (a) => a.photomatonId ? state.booths.get(a.photomatonId)?.name || `#${a.photomatonId}` : '';
  open.items.sort((a, b) => boothName(a).localeCompare(boothName(b)) || b.openedAt.localeCompare(a.openedAt));
  const boothOf = (a) => a.photomatonId ? h('a', { href: `#/booth/${a.photomatonId}`, text: state.booths.get(a.photomatonId)?.name || `#${a.photomatonId}` }) : '—';
  const row = (a) => h('tr', { 'data-alert': a.id, 'data-state': a.state },
    h('td', { text: t('alert.' + a.kind), title: a.message }), h('td', {}, boothOf(a)), h('td', { text: when(a.openedAt) }),
    h('td', {}, a.state === 'resolved' ? when(a.resolvedAt) : a.state === 'acknowledged' ? t('alerts.acked').replace('{who}', a.acknowledgedBy || '—')
      : may('INSTALLER') ? h('button', { class: 'btn', type: 'button', 'data-ack': a.id, onclick: async (e) => { e.target.disabled = true; try { const acked = await api('POST', `/api/alerts/${a.id}/ack`, {}); state.alerts.set(acked.id, acked); render(); } catch (err) { e.target.disabled = false; e.target.title = err.message; } }, text: t('alerts.ack') }) : '—'),
    h('td', {}, deliveries(a)));
  const head = () => h('tr', {}, ...['alerts.kind', 'alerts.booth', 'alerts.since', 'cmd.status', 'deliv.title'].map((k) => h('th', { text: t(k) })));
  return [
    h('section', { class: 'panel' }, h('h2', { text: t('alerts.open') }),
      open.items.length ? h('div', { class: 'scroll' }, h('table', { 'data-open-alerts': open.items.length }, head(), ...open.items.map(row))) : h('p', { class: 'muted', text: t('alerts.none') })),
    channelPanel(channels.items),
    may('INSTALLER') ? mutePanel(mutes.items) : null,
    h('section', { class: 'panel' }, h('h2', { text: t('alerts.resolved') }), h('div', { class: 'scroll' }, h('table', {}, head(), ...resolved.items.map(row)))),
  ];
}

function channelPanel(channels) {
  const status = h('p', { class: 'muted', role: 'status', 'data-channel-status': '' });
  const line = (c) => h('tr', { 'data-channel': c.id },
    h('td', { text: t('ch.' + c.kind) }), h('td', { text: c.target }),
    h('td', { text: c.alertKinds.map((k) => t('alert.' + k)).join(', ') }),
    h('td', { text: c.quietHours ? `${c.quietHours.from} – ${c.quietHours.to}` : '—' }),
    h('td', {},
      h('button', { class: 'btn', type: 'button', 'data-test-channel': c.id, text: t('ch.test'), onclick: async (e) => {
        e.target.disabled = true; status.className = 'muted'; status.textContent = '…';
        try { await api('POST', `/api/notification-channels/${c.id}/test`, {}); status.textContent = `${t('ch.tested')} (${c.target})`; }
        catch (err) { status.className = 'error'; status.textContent = err.message; }
        e.target.disabled = false;
      } }), ' ',
      h('button', { class: 'btn', type: 'button', text: t('admin.delete'), onclick: async () => {
        try { await api('DELETE', `/api/notification-channels/${c.id}`); render(); } catch (err) { status.className = 'error'; status.textContent = err.message; }
      } })));
  const kinds = ALERT_KINDS.map((k) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'alertKinds', value: k, checked: k !== 'paper_warning' }), ' ', t('alert.' + k)));
  const form = h('form', { class: 'toolbar', 'data-channel-form': '', onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { kind: f.get('kind'), target: f.get('target'), alertKinds: f.getAll('alertKinds') };
    if (f.get('quietFrom') && f.get('quietTo')) body.quietHours = { from: f.get('quietFrom'), to: f.get('quietTo') };
    try { await api('POST', '/api/notification-channels', body); render(); } catch (err) { status.className = 'error'; status.textContent = err.message; }
  } },
    h('label', {}, t('ch.kind'), ' ', h('select', { name: 'kind' }, ...['email', 'telegram', ...(may('INSTALLER') ? ['webhook'] : [])].map((k) => h('option', { value: k, text: t('ch.' + k) })))),
    h('label', {}, t('ch.target'), ' ', h('input', { name: 'target', required: true, maxlength: 2048, autocomplete: 'off' })),
    h('fieldset', { class: 'kinds' }, h('legend', { text: t('ch.kinds') }), ...kinds),
    h('label', {}, `${t('ch.quiet')} · ${t('ch.quietFrom')} `, h('input', { type: 'time', name: 'quietFrom' })),
    h('label', {}, t('ch.quietTo'), ' ', h('input', { type: 'time', name: 'quietTo' })),
    h('button', { class: 'btn primary', type: 'submit', text: t('ch.add') }));
  return h('section', { class: 'panel', 'data-channels': channels.length }, h('h2', { text: t('ch.title') }), h('p', { class: 'muted', text: t('ch.why') }),
    channels.length ? h('div', { class: 'scroll' }, h('table', {}, h('tr', {}, ...['ch.kind', 'ch.target', 'ch.kinds', 'ch.quiet', 'booth.details'].map((k) => h('th', { text: t(k) }))), ...channels.map(line)))
      : h('p', { class: 'muted', text: t('ch.none') }),
    form, status);
}

function mutePanel(mutes) {
  const status = h('p', { class: 'muted', role: 'status' });
  const booths = [...state.booths.values()].sort((a, b) => a.name.localeCompare(b.name));
  const nameOf = (id) => id ? state.booths.get(id)?.name || `#${id}` : t('mute.fleet');
  const form = h('form', { class: 'toolbar', 'data-mute-form': '', onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const booth = f.get('photomatonId');
    try { await api('POST', '/api/alert-mutes', { photomatonId: booth ? Number(booth) : null, minutes: Number(f.get('minutes')), reason: f.get('reason') || null }); render(); }
    catch (err) { status.className = 'error'; status.textContent = err.message; }
  } },
    h('label', {}, t('mute.booth'), ' ', h('select', { name: 'photomatonId' }, h('option', { value: '', text: t('mute.fleet') }), ...booths.map((b) => h('option', { value: b.id, text: b.name })))),
    h('label', {}, t('mute.for'), ' ', h('select', { name: 'minutes' }, ...[[60, '1h'], [240, '4h'], [1440, '24h'], [4320, '72h']].map(([m, k]) => h('option', { value: m, text: t('mute.' + k) })))),
    h('label', {}, t('mute.reason'), ' ', h('input', { name: 'reason', maxlength: 500 })),
    h('button', { class: 'btn primary', type: 'submit', text: t('mute.add') }));
  return h('section', { class: 'panel', 'data-mutes': mutes.length }, h('h2', { text: t('mute.title') }), h('p', { class: 'muted', text: t('mute.why') }),
    mutes.length ? h('div', { class: 'scroll' }, h('table', {}, h('tr', {}, ...['mute.booth', 'mute.until', 'mute.reason', 'mute.by', 'booth.details'].map((k) => h('th', { text: t(k) }))),
      ...mutes.map((m) => h('tr', { 'data-mute': m.id }, h('td', { text: nameOf(m.photomatonId) }), h('td', { text: when(m.endsAt) }), h('td', { text: m.reason || '—' }), h('td', { text: m.createdBy || '—' }),
        h('td', {}, h('button', { class: 'btn', type: 'button', text: t('mute.end'), onclick: async () => { try { await api('DELETE', `/api/alert-mutes/${m.id}`); render(); } catch (err) { status.className = 'error'; status.textContent = err.message; } } }))))))
      : h('p', { class: 'muted', text: t('mute.none') }),
    form, status);
}

// -------------------------------------------------------------------------------------- fleet
// A booth's troubles, worst first: what needs a person now. Each has a level (the card's
// colour), an icon and words, so that no state is told by colour alone.
const TROUBLES = {
  down: { level: 'critical', icon: '✖' }, // neither the router nor the PC answers
  pcDown: { level: 'critical', icon: '✖' }, // the router answers, the PC does not
  printer: { level: 'critical', icon: '✖' },
  paperCritical: { level: 'critical', icon: '⚠' },
  paperWarning: { level: 'warning', icon: '⚠' },
  agentSilent: { level: 'warning', icon: '…' },
};
const printerTrouble = (b) => b.printer && ['offline', 'paper_out', 'error'].includes(b.printer.state);
function troubles(b) {
  const list = [];
  if (!b.pcConnected) list.push(b.routerConnected ? 'pcDown' : 'down');
  if (printerTrouble(b)) list.push('printer');
  if (b.paperState === 'critical') list.push('paperCritical');
  else if (b.paperState === 'warning') list.push('paperWarning');
  if (agentSilent(b)) list.push('agentSilent');
  return list;
}
const levelOf = (b) => troubles(b).map((k) => TROUBLES[k].level).sort((x, y) => (x === 'critical' ? -1 : 1) - (y === 'critical' ? -1 : 1))[0] || 'ok';
function attention(b) {
  return troubles(b).reduce((n, k) => n + ({ down: 8, pcDown: 8, printer: 6, paperCritical: 4, paperWarning: 2, agentSilent: 1 }[k]), 0);
}
const openAlertsOf = (id) => [...state.alerts.values()].filter((a) => a.photomatonId === id && a.state !== 'resolved').length;

// The summary bar's filters: each a question staff ask at an event.
const FILTERS = {
  down: (b) => !b.pcConnected,
  paperCritical: (b) => b.paperState === 'critical',
  paperWarning: (b) => b.paperState === 'warning',
  agentSilent: (b) => agentSilent(b),
  printer: (b) => printerTrouble(b),
  alerts: (b) => openAlertsOf(b.id) > 0,
  event: (b) => !!b.currentEvent,
};

/** The fleet's view as kept in the address: `#/?only=down&q=dupont&sort=name&dir=desc`. */
function fleetQuery() {
  const query = new URLSearchParams(location.hash.split('?')[1] || '');
  return { only: FILTERS[query.get('only')] ? query.get('only') : '', q: query.get('q') || '', sort: query.get('sort') || 'attention', dir: query.get('dir') === 'desc' ? -1 : 1 };
}
function setFleetQuery(changes) {
  const current = { ...fleetQuery(), ...changes };
  const query = new URLSearchParams();
  if (current.only) query.set('only', current.only);
  if (current.q) query.set('q', current.q);
  if (current.sort && current.sort !== 'attention') query.set('sort', current.sort);
  if (current.dir === -1) query.set('dir', 'desc');
  // Replaced, not pushed: typing a search does not fill the history.
  history.replaceState(null, '', `#/${query.size ? '?' + query : ''}`);
}

const SORTS = {
  attention: (a, b) => attention(b) - attention(a),
  offline: (a, b) => (a.pcConnected - b.pcConnected) || (a.routerConnected - b.routerConnected),
  paper: (a, b) => a.remainingPrints - a.criticalThreshold - (b.remainingPrints - b.criticalThreshold),
  name: () => 0,
  event: (a, b) => (a.currentEvent?.clientName || '~').localeCompare(b.currentEvent?.clientName || '~'),
  sessions: (a, b) => counts(b).sessions - counts(a).sessions,
  prints: (a, b) => counts(b).prints - counts(a).prints,
  seen: (a, b) => (Date.parse(b.lastSeen || 0) || 0) - (Date.parse(a.lastSeen || 0) || 0),
};

/** Whether a booth belongs to the fleet's view (its filter and search), without sorting. */
function matcher() {
  const { only, q } = fleetQuery();
  const needle = q.trim().toLowerCase();
  return (b) => (!only || FILTERS[only](b)) && (!needle || [b.name, b.hostname, b.currentEvent?.clientName].some((s) => s?.toLowerCase().includes(needle)));
}

function sorted() {
  const { sort, dir } = fleetQuery();
  const order = SORTS[sort] || SORTS.attention;
  return [...state.booths.values()].filter(matcher()).sort((a, b) => dir * order(a, b) || a.name.localeCompare(b.name));
}

/** What the card counts: the current event (no reset at midnight during a wedding), else today. */
const counts = (b) => b.currentEvent?.totals || b.today || {};

/** An action's progress in the user's language; the technical detail stays in English. */
function say(a) {
  const text = a.code ? I18N[lang]['code.' + a.code] ?? I18N.fr['code.' + a.code] : null;
  if (!text) return a.message;
  const said = text.replace('{s}', a.seconds ?? '');
  return a.code === 'sendFailed' || a.code === 'relayFailed' ? `${said} (${a.message})` : said;
}

function powerOn(id) {
  return async (e) => {
    e.target.disabled = true;
    state.actions.set(id, { phase: 'pending', message: t('power.sending') });
    updateBooth(id);
    try {
      const reply = await api('POST', '/api/webhooks/action', { photomatonId: id, action: 'power_on' });
      const current = state.actions.get(id);
      const settled = current?.actionId === reply.actionId && current.phase !== 'pending';
      if (!reply.ok) state.actions.set(id, { actionId: reply.actionId, phase: 'failed', message: reply.message, code: reply.code });
      else if (!settled) state.actions.set(id, { actionId: reply.actionId, phase: 'pending', message: reply.message, code: reply.code });
    } catch (err) {
      state.actions.set(id, { phase: 'failed', message: err.message });
    }
    updateBooth(id);
  };
}

function card(b) {
  const offline = !b.pcConnected && !b.routerConnected;
  const pct = Math.max(0, Math.min(100, Math.round((100 * b.remainingPrints) / (b.paperCapacity || 700))));
  const today = b.today || {};
  // During an event the card counts the event (no reset at midnight in the middle of a
  // wedding); today's figures follow on a second line.
  const main = counts(b);
  const action = state.actions.get(b.id);
  const printerAlert = printerTrouble(b);
  const level = levelOf(b);
  const trouble = troubles(b);
  return h('article', { class: `card ${level}${offline ? ' offline' : ''}`, 'data-booth': b.id, 'data-paper': b.paperState, 'data-level': level },
    h('h3', {}, h('a', { href: `#/booth/${b.id}`, text: b.name }), h('span', { class: 'muted', text: b.hostname })),
    h('p', { class: `state ${level}`, 'data-state': trouble.join(' ') || 'ok' }, trouble.length
      ? trouble.map((k) => h('span', {}, h('span', { 'aria-hidden': 'true', text: TROUBLES[k].icon + ' ' }), t('trouble.' + k)))
      : h('span', {}, h('span', { 'aria-hidden': 'true', text: '✓ ' }), t('trouble.ok'))),
    h('div', { class: 'dots' },
      h('span', { class: `dot ${b.routerConnected ? 'up' : 'down'}`, 'data-router': b.routerConnected, text: t('router') }),
      h('span', { class: `dot ${b.pcConnected ? 'up' : 'down'}`, 'data-pc': b.pcConnected, text: t('pc') }),
      h('span', { class: 'muted', 'data-iso': b.lastSeen || '', text: seen(b.lastSeen) }),
      agentSilent(b) ? h('span', { class: 'dot down', 'data-agent-silent': '', title: b.agentSeenAt ? `${t('agent.seen')} ${when(b.agentSeenAt)}` : t('never'), text: t('agent.silent') }) : null),
    h('div', {}, h('div', { class: 'muted' }, `${t('paper')} · `, h('b', { class: 'remaining', text: b.remainingPrints }), ` / ${b.paperCapacity} ${t('prints')}`),
      h('div', { class: `gauge ${b.paperState}`, role: 'meter', 'aria-label': t('paper'), 'aria-valuenow': b.remainingPrints, 'aria-valuemin': 0, 'aria-valuemax': b.paperCapacity }, h('span', { style: `width:${pct}%` })),
      b.printer ? h('div', { class: printerAlert ? 'printer alert' : 'printer muted', 'data-printer': b.printer.state, title: [b.printer.name, b.printer.detail].filter(Boolean).join(' — ') },
        `${t('printer')} : ${t('printer.' + b.printer.state)}`) : null),
    h('div', { class: 'muted', 'data-counts-of': b.currentEvent ? 'event' : 'today', text: b.currentEvent ? t('counts.event') : t('today') }),
    h('div', { class: 'counts' },
      ...[['sessions', 'c.sessions'], ['photos', 'c.photos'], ['prints', 'c.prints'], ['digital', 'c.digital'], ['gifs', 'c.gifs']].map(([k, label]) =>
        h('div', { 'data-count': k }, h('b', { text: main[k] ?? 0 }), h('span', { class: 'muted', text: t(label) })))),
    b.currentEvent ? h('div', { class: 'muted', 'data-today': '' }, `${t('today')} : ${today.sessions ?? 0} ${t('c.sessions').toLowerCase()} · ${today.prints ?? 0} ${t('c.prints').toLowerCase()} · ${today.photos ?? 0} ${t('c.photos').toLowerCase()}`) : null,
    h('div', { class: 'event' }, b.currentEvent
      ? [h('b', { text: b.currentEvent.clientName }), b.currentEvent.eventType ? ` · ${b.currentEvent.eventType}` : '', b.currentEvent.albumName ? ` · ${b.currentEvent.albumName}` : '']
      : h('span', { class: 'muted', text: t('no.event') })),
    may('INSTALLER') ? h('div', { class: 'toolbar' },
      h('button', { class: `btn power${b.pcConnected ? '' : ' primary'}`, type: 'button', disabled: action?.phase === 'pending', onclick: powerOn(b.id), text: t('power') }),
      action ? h('span', { class: `action ${action.phase}`, 'data-phase': action.phase, text: `${t('phase.' + action.phase)} — ${say(action)}`, title: action.message }) : null) : null);
}

// The PC answers but its agent has not been heard from for 3 minutes (it polls every few
// seconds to 30 s when all is well): dslrBooth's stats are not reaching us.
function agentSilent(b) {
  return b.pcConnected && b.hasAgentKey && (!b.agentSeenAt || Date.now() - new Date(b.agentSeenAt) > 180000);
}

function commandRows() {
  const rows = [...state.commands.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (!rows.length) return [h('tr', {}, h('td', { colspan: 4, class: 'muted', text: t('cmd.none') }))];
  return rows.map((c) => h('tr', { 'data-command': c.command, 'data-status': c.status },
    h('td', { text: c.command }), h('td', { class: `cmd ${c.status}`, text: t('cmd.' + c.status) }),
    h('td', {}, c.output ? h('pre', { class: 'output', text: c.output }) : '—'),
    h('td', { text: when(c.finishedAt || c.sentAt || c.createdAt) })));
}

/**
 * The booth page under live updates: its card is patched at once; the rest of the page (charts,
 * tables) is fetched again at most every 5 s, and not while a person types in one of its forms.
 */
let boothRefresh = { at: 0, timer: null };
function refreshBoothPage() {
  if (boothRefresh.timer) return;
  const wait = Math.max(0, boothRefresh.at + 5000 - Date.now());
  boothRefresh.timer = setTimeout(() => {
    boothRefresh.timer = null;
    if (!location.hash.startsWith('#/booth/')) return;
    const typing = [...document.querySelectorAll('#main form input')].some((i) => i === document.activeElement || i.value);
    if (typing) { boothRefresh.at = Date.now(); refreshBoothPage(); return; }
    boothRefresh.at = Date.now();
    render();
  }, wait);
}

const onFleet = () => /^#?\/?(\?.*)?$/.test(location.hash);

function updateBooth(id) {
  const route = location.hash;
  if (route.startsWith('#/booth/')) {
    if (route !== `#/booth/${id}`) return;
    const b = state.booths.get(id);
    const old = document.querySelector(`#main [data-booth="${id}"]`);
    if (old && b) old.replaceWith(card(b));
    refreshBoothPage();
    return;
  }
  if (!onFleet()) return;
  scheduleSummary();
  const old = document.querySelector(`#fleet [data-booth="${id}"]`);
  const b = state.booths.get(id);
  const shown = b && matcher()(b);
  if (!shown) { old?.remove(); return; }
  if (old) { old.replaceWith(item(b)); return; }
  if (fleetRender.pending) return; // the booth comes with the cards still to draw
  // A booth that now belongs to the view (a new one, or one that entered the filter): in its
  // place in the order, leaving the rest (and what has focus) alone.
  const list = sorted();
  const after = list.slice(list.findIndex((x) => x.id === id) + 1).map((x) => document.querySelector(`#fleet [data-booth="${x.id}"]`)).find(Boolean);
  const body = $('#fleet [data-fleet-items]');
  if (body) body.insertBefore(item(b), after || null);
}

/** The fleet as cards or as one line per booth, as the person chose (kept on their account). */
const listView = () => (state.me?.fleetView || 'cards') === 'list';
const item = (b) => (listView() ? row(b) : card(b));

function row(b) {
  const level = levelOf(b);
  const trouble = troubles(b);
  const c = counts(b);
  const yes = (up) => h('span', { class: `dot ${up ? 'up' : 'down'}`, text: up ? t('up') : t('down') });
  return h('tr', { class: `row ${level}`, 'data-booth': b.id, 'data-level': level },
    h('th', { scope: 'row' }, h('a', { href: `#/booth/${b.id}`, text: b.name }), h('span', { class: 'muted', text: ` ${b.hostname}` })),
    h('td', { class: `state ${level}`, 'data-state': trouble.join(' ') || 'ok' }, trouble.length ? trouble.map((k) => `${TROUBLES[k].icon} ${t('trouble.' + k)}`).join(' · ') : `✓ ${t('trouble.ok')}`),
    h('td', {}, yes(b.routerConnected)), h('td', {}, yes(b.pcConnected)),
    h('td', { class: 'n' }, h('b', { text: b.remainingPrints }), ` / ${b.paperCapacity}`),
    h('td', { class: 'n', text: c.sessions ?? 0 }), h('td', { class: 'n', text: c.prints ?? 0 }),
    h('td', { text: b.currentEvent?.clientName || '—' }),
    h('td', { class: 'muted', 'data-iso': b.lastSeen || '', text: seen(b.lastSeen) }));
}

/**
 * Draws the fleet's items without blocking the page: the first screenful at once, the rest in
 * slices of at most ~8 ms of work each, so that a person can scroll, type or press a button
 * while a thousand booths are drawn.
 */
let fleetRender = { ticket: 0, pending: false };
function drawItems(container, booths) {
  const ticket = ++fleetRender.ticket;
  const first = Math.min(booths.length, 24);
  container.replaceChildren(...booths.slice(0, first).map(item));
  let i = first;
  fleetRender.pending = i < booths.length;
  // User Timing marks (the dashboard benchmark reads them): the fleet usable, then all drawn.
  const mark = (name) => { if (!performance.getEntriesByName(name).length) performance.mark(name); };
  mark('boom:fleet-usable');
  if (!fleetRender.pending) mark('boom:fleet-drawn');
  const $fleet = $('#fleet');
  if ($fleet) $fleet.dataset.drawn = String(i);
  const slice = () => {
    if (ticket !== fleetRender.ticket) return;
    const start = performance.now();
    const part = document.createDocumentFragment();
    while (i < booths.length && performance.now() - start < 8) part.append(item(booths[i++]));
    container.append(part);
    if ($fleet) $fleet.dataset.drawn = String(i);
    if (i < booths.length) setTimeout(slice, 0);
    else { fleetRender.pending = false; mark('boom:fleet-drawn'); }
  };
  if (fleetRender.pending) setTimeout(slice, 0);
}

function drawFleet() {
  const box = $('#fleet');
  if (!box) return;
  const booths = sorted();
  const { sort, dir } = fleetQuery();
  if (state.booths.size === 0) { box.replaceChildren(h('p', { class: 'muted', text: t('no.booths') })); return; }
  if (booths.length === 0) { box.replaceChildren(h('p', { class: 'muted', 'data-fleet-empty': '', text: t('fleet.none') })); return; }
  let items;
  if (listView()) {
    const column = (key, label, cls) => h('th', { scope: 'col', class: cls, 'aria-sort': sort === key ? (dir === 1 ? 'ascending' : 'descending') : null },
      SORTS[key] ? h('button', { class: 'link', type: 'button', 'data-sort': key, onclick: () => { setFleetQuery({ sort: key, dir: sort === key ? -dir : 1 }); drawFleet(); }, text: t(label) + (sort === key ? (dir === 1 ? ' ▲' : ' ▼') : '') }) : t(label));
    items = h('tbody', { 'data-fleet-items': '' });
    box.replaceChildren(h('div', { class: 'scroll' }, h('table', { class: 'fleet-list' },
      h('thead', {}, h('tr', {}, column('name', 'col.name'), column('attention', 'col.state'), column('offline', 'router'), h('th', { scope: 'col', text: t('pc') }), column('paper', 'paper', 'n'), column('sessions', 'c.sessions', 'n'), column('prints', 'c.prints', 'n'), column('event', 'col.event'), column('seen', 'col.seen'))),
      items)));
  } else {
    items = h('div', { class: 'grid', 'data-fleet-items': '' });
    box.replaceChildren(items);
  }
  drawItems(items, booths);
}

/** The summary bar: how many booths are in each trouble, each a filter. */
function summary() {
  const { only } = fleetQuery();
  const all = [...state.booths.values()];
  const tally = Object.fromEntries(Object.entries(FILTERS).map(([k, test]) => [k, all.filter(test).length]));
  tally.alerts = [...state.alerts.values()].filter((a) => a.state !== 'resolved').length;
  const fine = all.filter((b) => levelOf(b) === 'ok').length;
  const chip = (key, n, level) => h('button', { type: 'button', class: `chip ${level}${only === key ? ' on' : ''}`, 'data-filter': key, 'data-count': n, 'aria-pressed': only === key ? 'true' : 'false',
    onclick: () => { setFleetQuery({ only: only === key ? '' : key }); render(); } }, h('b', { text: n }), ` ${t('sum.' + key)}`);
  return h('div', { class: 'summary', id: 'summary', role: 'group', 'aria-label': t('sum.title') },
    h('button', { type: 'button', class: `chip all${only ? '' : ' on'}`, 'data-filter': '', 'data-count': all.length, 'aria-pressed': only ? 'false' : 'true', onclick: () => { setFleetQuery({ only: '' }); render(); } }, h('b', { text: all.length }), ` ${t('sum.all')}`, h('span', { class: 'muted', text: ` · ${fine} ${t('sum.fine')}` })),
    chip('down', tally.down, tally.down ? 'critical' : 'ok'),
    chip('paperCritical', tally.paperCritical, tally.paperCritical ? 'critical' : 'ok'),
    chip('printer', tally.printer, tally.printer ? 'critical' : 'ok'),
    chip('paperWarning', tally.paperWarning, tally.paperWarning ? 'warning' : 'ok'),
    chip('agentSilent', tally.agentSilent, tally.agentSilent ? 'warning' : 'ok'),
    chip('alerts', tally.alerts, tally.alerts ? 'critical' : 'ok'),
    chip('event', tally.event, 'info'));
}
// Counting the fleet costs a few milliseconds at 1,000 booths: at most twice a second.
let summaryTimer = 0;
function scheduleSummary() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(() => {
    summaryTimer = 0;
    const old = $('#summary');
    if (!old) return;
    // Patched in place: a chip being pressed right now stays the same element.
    for (const chip of summary().querySelectorAll('[data-filter]')) {
      const same = old.querySelector(`[data-filter="${chip.dataset.filter}"]`);
      if (!same) { old.replaceWith(summary()); return; }
      same.className = chip.className;
      same.dataset.count = chip.dataset.count;
      same.replaceChildren(...chip.childNodes);
    }
  }, 500);
}

function fleet() {
  const { q, sort } = fleetQuery();
  const sortSelect = h('select', { 'aria-label': t('sort.label'), onchange: (e) => { setFleetQuery({ sort: e.target.value, dir: 1 }); drawFleet(); } },
    ...['attention', 'offline', 'paper', 'name', 'event'].map((k) => h('option', { value: k, selected: sort === k, text: t('sort.' + k) })));
  const search = h('input', { type: 'search', placeholder: t('fleet.search'), 'aria-label': t('fleet.search'), value: q, oninput: (e) => { setFleetQuery({ q: e.target.value }); drawFleet(); } });
  const view = h('div', { class: 'switch', role: 'group', 'aria-label': t('view.label') },
    ...['cards', 'list'].map((k) => h('button', { type: 'button', class: `btn${(state.me?.fleetView || 'cards') === k ? ' on' : ''}`, 'data-view': k, 'aria-pressed': (state.me?.fleetView || 'cards') === k ? 'true' : 'false', text: t('view.' + k), onclick: async () => {
      state.me.fleetView = k;
      render();
      try { state.me = { ...state.me, ...(await api('PATCH', '/api/auth/me', { fleetView: k })) }; } catch { /* kept for this page */ }
    } })));
  const box = h('section', { id: 'fleet', 'aria-live': 'off' });
  queueMicrotask(drawFleet);
  return [summary(), h('div', { class: 'toolbar' }, search, sortSelect, view), box];
}

// ---------------------------------------------------------------------------------------- booth
const PALETTE = ['#c43c3c', '#5b3cc4', '#1a9a5a', '#d08a00', '#2a7ab8', '#b8408f'];

/** Media per hour (an event's timeline): sessions as bars, the rest as lines. */
function mediaChart(timeline) {
  const hours = hourly(timeline);
  return chart({
    lang, x: hours.x, bucket: 3600, xLabel: t('chart.hour'), yLabel: t('chart.count'),
    series: [
      { label: t('c.sessions'), color: '#5b3cc4', kind: 'bars', values: hours.at('sessions') },
      { label: t('c.prints'), color: '#c43c3c', kind: 'line', values: hours.at('prints') },
      { label: t('c.digital'), color: '#1a9a5a', kind: 'line', values: hours.at('digital') },
      { label: t('c.gifs'), color: '#d08a00', kind: 'line', values: hours.at('gifs') },
    ],
  });
}

/** Paper levels of one or more booths: `series` is [{name, points: [{at, value}]}], oldest first. */
function paperChart(series, capacity, until) {
  const l = levels(series.map((s) => s.points), until);
  return chart({
    lang, x: l.x, xLabel: t('chart.time'), yLabel: t('chart.prints'), yMax: capacity,
    series: series.map((s, i) => ({ label: s.name, color: PALETTE[i % PALETTE.length], kind: 'steps', values: l.columns[i] })),
  });
}

async function booth(id) {
  const b = state.booths.get(id) || await api('GET', `/api/photomatons/${id}`);
  const [speed, event, paper, commandList, refused, powerOns] = await Promise.all([
    api('GET', `/api/photomatons/${id}/speedtests?limit=20`).catch(() => ({ items: [] })),
    b.currentEvent ? api('GET', `/api/events/${b.currentEvent.id}`).catch(() => null) : null,
    api('GET', `/api/photomatons/${id}/paper-levels?limit=500`).catch(() => ({ items: [] })),
    api('GET', `/api/photomatons/${id}/commands`).catch(() => []),
    api('GET', `/api/photomatons/${id}/refused-lines?limit=20`).catch(() => ({ items: [] })),
    api('GET', `/api/photomatons/${id}/power-ons`).catch(() => []),
  ]);
  state.commandsOf = id;
  state.commands = new Map(commandList.map((c) => [c.id, c]));
  // A level holds until the next change: drawn as steps, up to now.
  const paperPoints = paper.items.slice().reverse().map((p) => ({ at: p.at, value: p.remainingPrints }));
  const tests = speed.items.slice().reverse();
  const reset = may('INSTALLER') ? h('form', { class: 'toolbar', 'data-paper-reset': '', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const input = e.target.elements.prints, out = e.target.querySelector('[data-outcome]');
    const n = input.value.trim();
    // Said next to the field, before asking the server: a roll holds at most the capacity.
    if (n && !(Number.isInteger(Number(n)) && Number(n) >= 0 && Number(n) <= b.paperCapacity)) {
      input.setAttribute('aria-invalid', 'true');
      out.className = 'error';
      out.textContent = t('err.capacity').replace('{n}', b.paperCapacity);
      return;
    }
    try {
      const updated = await api('POST', `/api/photomatons/${id}/paper-reset`, n ? { remainingPrints: Number(n) } : {});
      state.booths.set(id, updated);
      e.target.reset();
      render();
    } catch (err) { input.setAttribute('aria-invalid', 'true'); outcome(out, '', err); }
  } }, h('label', { class: 'field' }, h('span', { text: `${t('booth.reset')} (${t('booth.resetHint').replace('{n}', b.paperCapacity)})` }),
    h('input', { name: 'prints', type: 'number', min: 0, max: b.paperCapacity, step: 1, placeholder: String(b.paperCapacity), inputmode: 'numeric' })),
  h('button', { class: 'btn', type: 'submit', text: t('booth.reset') }), h('span', { 'data-outcome': '', role: 'status' })) : null;
  const speedRequest = may('INSTALLER') ? h('div', { class: 'toolbar' },
    h('button', { class: 'btn', type: 'button', 'data-speed-request': id, text: t('speed.request'), onclick: async (e) => {
      e.target.disabled = true;
      try {
        const updated = await api('POST', `/api/photomatons/${id}/speedtests`, {});
        state.booths.set(id, updated); render();
      } catch (err) { e.target.disabled = false; outcome(e.target.parentElement.querySelector('[data-outcome]'), '', err); }
    } }), h('span', { 'data-outcome': '', role: 'status' }),
    b.speedTestRequestedAt && !(speed.items[0] && new Date(speed.items[0].createdAt) >= new Date(b.speedTestRequestedAt))
      ? h('span', { class: 'muted', 'data-speed-requested': '', text: t('speed.requested').replace('{t}', when(b.speedTestRequestedAt)) }) : null) : null;
  const pair = may('INSTALLER') ? h('button', { class: 'btn', type: 'button', 'data-pair': id, text: t('pair.button'), onclick: async () =>
    showPairing(await api('POST', `/api/photomatons/${id}/pairing-code`, {})) }) : null;
  const commands = h('section', { class: 'panel', 'data-commands': id }, h('h2', { text: t('cmd.title') }),
    may('INSTALLER') ? h('form', { class: 'toolbar', onsubmit: async (e) => {
      e.preventDefault();
      const name = e.target.elements.command.value.trim();
      if (!name) return;
      await api('POST', `/api/photomatons/${id}/commands`, { command: name });
      e.target.reset();
    } }, h('input', { name: 'command', placeholder: 'restart_dslrbooth', autocomplete: 'off', 'aria-label': t('cmd.name') }),
      h('button', { class: 'btn', type: 'submit', text: t('cmd.send') })) : null,
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['cmd.name', 'cmd.status', 'cmd.output', 'f.when'].map((k) => h('th', { text: t(k) })))),
      h('tbody', { 'data-command-rows': '' }, ...commandRows()))));
  const action = state.actions.get(id);
  return [
    h('section', { class: 'grid' }, card(b)),
    h('section', { class: 'panel' }, h('h2', { text: t('booth.details') }),
      h('p', { class: 'muted' }, `${t('f.tailscaleIp')}: ${b.tailscaleIp || '—'} · ${t('f.routerTailscaleIp')}: ${b.routerTailscaleIp || '—'} · ${t('f.macAddress')}: ${b.macAddress || '—'} · ${t('f.wakeTarget')}: ${b.wakeTarget || '—'}`),
      h('p', { class: 'muted' }, `${t('f.warningThreshold')}: ${b.warningThreshold} · ${t('f.criticalThreshold')}: ${b.criticalThreshold} · ${t('admin.key')}: ${b.hasAgentKey ? '✓' : '—'} · ${t('booth.lastRoll')}: ${b.paperResetAt ? when(b.paperResetAt) : '—'}`),
      h('p', { class: 'muted', 'data-agent': '' }, `${t('booth.agent')}: ${b.agentVersion ? 'v' + b.agentVersion : '—'} · ${t('booth.backlog')}: ${b.agentBacklog ?? '—'} · ${t('agent.seen')}: ${b.agentSeenAt ? when(b.agentSeenAt) : '—'}`),
      reset, pair),
    h('section', { class: 'panel' }, h('h2', { text: t('booth.paper') }),
      h('div', { 'data-paper-history': paperPoints.length }, paperPoints.length ? paperChart([{ name: t('paper'), points: paperPoints }], b.paperCapacity || 700, new Date().toISOString()) : null)),
    event?.timeline?.length ? h('section', { class: 'panel' }, h('h2', {}, `${t('booth.hourly')} — `, h('a', { href: `#/event/${event.id}`, text: event.clientName })), mediaChart(event.timeline)) : null,
    h('section', { class: 'panel' }, h('h2', { text: t('booth.speed') }), speedRequest,
      tests.length ? h('div', { 'data-speed-chart': tests.length }, chart({
        lang, x: tests.map((s) => Date.parse(s.createdAt) / 1000), xLabel: t('chart.time'), yLabel: t('chart.mbps'), value: (v) => `${Math.round(v * 10) / 10}`,
        series: [
          { label: t('chart.down'), color: '#5b3cc4', kind: 'line', values: tests.map((s) => s.download) },
          { label: t('chart.up'), color: '#1a9a5a', kind: 'line', values: tests.map((s) => s.upload) },
        ],
      })) : null,
      h('div', { class: 'scroll' }, h('table', {}, h('tr', {}, h('th', { text: t('f.when') }), h('th', { text: t('speed.down') }), h('th', { text: t('speed.up') }), h('th', { text: t('speed.ping') })),
        ...speed.items.map((s) => h('tr', {}, h('td', { text: when(s.createdAt) }), h('td', { text: `${s.download.toFixed(1)} Mbit/s` }), h('td', { text: `${s.upload.toFixed(1)} Mbit/s` }), h('td', { text: `${Math.round(s.ping)} ms` })))))),
    commands,
    refused.items.length ? h('section', { class: 'panel', 'data-refused': refused.items.length }, h('h2', { text: t('refused.title') }), h('p', { class: 'muted', text: t('refused.why') }),
      h('div', { class: 'scroll' }, h('table', {}, h('tr', {}, h('th', { text: t('f.when') }), h('th', { text: t('refused.reason') }), h('th', { text: t('refused.line') })),
        ...refused.items.map((r) => h('tr', {}, h('td', { text: when(r.receivedAt) }), h('td', { text: r.reason }), h('td', {}, h('code', { text: r.line }))))))) : null,
    action || powerOns.length ? h('section', { class: 'panel', 'data-power-ons': powerOns.length }, h('h2', { text: t('booth.actions') }),
      action ? h('p', { class: `action ${action.phase}`, text: `${t('phase.' + action.phase)} — ${say(action)}`, title: action.message }) : null,
      powerOns.length ? h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['f.when', 'f.who', 'f.action', 'f.what'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', {}, ...powerOns.map((p) => h('tr', {}, h('td', { text: when(p.at) }), h('td', { text: p.username || (p.step === 'result' ? 'photomaton-control' : '—') }),
          h('td', { text: p.step === 'requested' ? t('power') : t('power.result') }),
          h('td', { class: p.outcome ? `action ${p.outcome}` : '', text: [p.outcome ? t('phase.' + p.outcome) : null, p.message].filter(Boolean).join(' — ') })))))) : null) : null,
  ];
}

// --------------------------------------------------------------------------------------- events
/** The events list's search, as kept in the URL (`#/events?client=…&type=…&from=…&to=…&archived=1`). */
function eventSearch() {
  const query = new URLSearchParams(location.hash.split('?')[1] || '');
  return { client: query.get('client') || '', type: query.get('type') || '', from: query.get('from') || '', to: query.get('to') || '', archived: query.get('archived') === '1' };
}

function eventTable(items) {
  if (!items.length) return null;
  const boothName = (id) => state.booths.get(id)?.name || '—';
  return h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, ...['events.client', 'events.type', 'events.date', 'events.booth', 'c.sessions', 'c.prints', 'c.digital', 'c.gifs', 'events.notion'].map((k) => h('th', { text: t(k) })))),
    h('tbody', {}, ...items.map((e) => h('tr', { 'data-event': e.id }, h('td', {}, h('a', { href: `#/event/${e.id}`, text: e.clientName })), h('td', { text: e.eventType || '—' }), h('td', { text: day(e.eventDate) }),
      h('td', {}, e.photomatonId ? h('a', { href: `#/booth/${e.photomatonId}`, text: boothName(e.photomatonId) }) : '—'),
      h('td', { class: 'n', text: e.totals.sessions }), h('td', { class: 'n', text: e.totals.prints }), h('td', { class: 'n', text: e.totals.digital }), h('td', { class: 'n', text: e.totals.gifs }),
      h('td', {}, e.notionUrl ? h('a', { href: e.notionUrl, target: '_blank', rel: 'noopener', text: '↗', 'aria-label': 'Notion' }) : '—'))))));
}

/** The tables of the events page (what live updates refresh, leaving the search form alone). */
async function eventResults() {
  const search = eventSearch();
  const query = new URLSearchParams({ status: search.archived ? 'ARCHIVED' : 'COMPLETED', limit: '50' });
  for (const k of ['client', 'type', 'from', 'to']) if (search[k]) query.set(k, search[k]);
  const [active, done] = await Promise.all([api('GET', '/api/events?status=ACTIVE&limit=200'), api('GET', `/api/events?${query}`)]);
  for (const e of [...active.items, ...done.items]) state.events.set(e.id, e);
  const more = (page) => page.nextCursor ? h('button', { class: 'btn', type: 'button', text: t('events.more'), onclick: async (ev) => {
    const next = await api('GET', `/api/events?${query}&cursor=${encodeURIComponent(page.nextCursor)}`);
    ev.target.closest('[data-event-done]').querySelector('tbody').append(...(eventTable(next.items)?.querySelectorAll('tbody tr') ?? []));
    ev.target.replaceWith(more(next) || '');
  } }) : null;
  return [
    h('h2', { text: t('events.active') }), eventTable(active.items) || h('p', { class: 'muted', text: t('events.noneActive') }),
    h('h2', { text: search.archived ? t('events.archived') : t('events.completed') }),
    h('div', { 'data-event-done': done.items.length }, eventTable(done.items) || h('p', { class: 'muted', text: t('events.none') }), more(done)),
  ];
}

async function refreshEvents() {
  const box = $('[data-event-results]');
  if (box) box.replaceChildren(...(await eventResults()).filter(Boolean));
}

async function events() {
  const search = eventSearch();
  const types = await api('GET', '/api/events/types').catch(() => []);
  const syncOutcome = h('span', { 'data-sync-outcome': '', role: 'status' });
  const sync = may('INSTALLER') ? h('button', { class: 'btn', type: 'button', 'data-sync': '', onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      const done = await api('POST', '/api/notion/sync', {});
      outcome(syncOutcome, t('events.synced').replace('{t}', when(new Date().toISOString())).replace('{read}', done?.pagesRead ?? 0).replace('{up}', done?.upserted ?? 0).replace('{done}', done?.completed ?? 0)
        + (done?.unmatched?.length ? ` ${t('events.unmatched').replace('{list}', done.unmatched.join(', '))}` : ''));
      await refreshEvents();
    } catch (err) { outcome(syncOutcome, '', err); }
    ev.target.disabled = false;
  }, text: t('events.sync') }) : null;
  const field = (name, label, attrs = {}) => h('label', { class: 'field' }, h('span', { text: t(label) }), h('input', { name, value: search[name], ...attrs }));
  const form = h('form', { class: 'toolbar search', 'data-event-search': '', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const f = e.target.elements, query = new URLSearchParams();
    for (const k of ['client', 'type', 'from', 'to']) if (f[k].value) query.set(k, f[k].value);
    if (f.archived.checked) query.set('archived', '1');
    location.hash = `#/events${query.size ? '?' + query : ''}`;
  } },
    field('client', 'events.clientSearch', { type: 'search', autocomplete: 'off' }),
    h('label', { class: 'field' }, h('span', { text: t('events.type') }), h('select', { name: 'type' }, h('option', { value: '', text: t('events.anyType') }),
      ...types.map((k) => h('option', { value: k, selected: k.toLowerCase() === search.type.toLowerCase(), text: k })))),
    field('from', 'events.from', { type: 'date' }), field('to', 'events.to', { type: 'date' }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'archived', checked: search.archived }), t('events.archived')),
    h('button', { class: 'btn primary', type: 'submit', text: t('events.search') }),
    h('a', { class: 'btn', href: '#/events', text: t('events.clear') }));
  const range = search.from && search.to
    ? h('div', { class: 'toolbar', 'data-range-export': `${search.from}/${search.to}` }, h('span', { text: `${t('events.rangeExport')} (${day(search.from)} → ${day(search.to)}) :` }),
      h('a', { class: 'btn', href: `/api/events/export.csv?from=${search.from}&to=${search.to}`, text: 'CSV' }),
      h('a', { class: 'btn', href: `/api/events/export.xlsx?from=${search.from}&to=${search.to}`, text: 'Excel' }))
    : h('p', { class: 'muted', text: t('events.rangeHint') });
  return [h('div', { class: 'toolbar' }, sync, syncOutcome), form, range, h('div', { 'data-event-results': location.hash.split('?')[1] || '' }, ...(await eventResults()).filter(Boolean))];
}

/** One event: totals, booths, hours, the booths' paper and uptime; its exports and the report. */
async function eventPage(id) {
  const e = await api('GET', `/api/events/${id}`);
  const hourFmt = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', timeZone: 'Europe/Paris' });
  const stamp = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { weekday: 'short', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', timeZone: 'Europe/Paris' });
  const kinds = [['sessions', 'c.sessions'], ['photos', 'c.photos'], ['prints', 'c.prints'], ['digital', 'c.digital'], ['gifs', 'c.gifs']];
  const row = (label, totals, attrs = {}) => h('tr', attrs, h('td', {}, label), ...kinds.map(([k]) => h('td', { class: 'n', text: totals[k] ?? 0 })));
  const head = (first) => h('thead', {}, h('tr', {}, h('th', { text: t(first) }), ...kinds.map(([, label]) => h('th', { class: 'n', text: t(label) }))));
  const link = (path, label) => h('a', { class: 'btn', href: `/api/events/${id}/${path}`, target: path === 'report' ? '_blank' : null, 'data-export': path, text: label });
  const archive = may('ADMIN') && (e.status === 'COMPLETED' || e.status === 'ARCHIVED')
    ? h('button', { class: 'btn', type: 'button', 'data-archive': e.status, text: t(e.status === 'COMPLETED' ? 'event.archive' : 'event.unarchive'), onclick: async (ev) => {
      if (e.status === 'COMPLETED' && !confirm(t('event.archiveAsk').replace('{c}', e.clientName))) return;
      ev.target.disabled = true;
      try { await api(e.status === 'COMPLETED' ? 'POST' : 'DELETE', `/api/events/${id}/archive`, e.status === 'COMPLETED' ? {} : undefined); } catch (err) { ev.target.disabled = false; outcome(ev.target.parentElement.querySelector('[data-outcome]') ?? ev.target, '', err); return; }
      render();
    } }) : null;
  const until = e.windowEnd && Date.parse(e.windowEnd) < Date.now() ? e.windowEnd : new Date().toISOString();
  const paper = e.booths.filter((b) => b.paper.length);
  const percent = (v) => v === null || v === undefined ? t('event.noProbe') : `${v.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB')} %`;
  const hoursOf = (secs) => `${Math.floor(secs / 3600)} h ${String(Math.floor((secs % 3600) / 60)).padStart(2, '0')}`;
  return h('section', { class: 'panel', 'data-event-page': id },
    h('h2', {}, e.clientName, ' ', h('span', { class: 'muted', text: [e.eventType, day(e.eventDate), t('status.' + e.status)].filter(Boolean).join(' · ') })),
    e.windowStart ? h('p', { class: 'muted', 'data-event-window': '' }, `${t('event.window')} : ${stamp.format(new Date(e.windowStart))} → ${stamp.format(new Date(e.windowEnd))}`) : null,
    h('div', { class: 'toolbar' }, link('export.csv', 'CSV'), link('export.xlsx', 'Excel'), link('report', t('event.report')),
      e.notionUrl ? h('a', { class: 'btn', href: e.notionUrl, target: '_blank', rel: 'noopener', text: 'Notion ↗' }) : null, archive, h('span', { 'data-outcome': '', role: 'status' })),
    h('div', { class: 'counts', 'data-event-totals': '' }, ...kinds.map(([k, label]) => h('div', { 'data-count': k }, h('b', { text: e.totals[k] }), h('span', { class: 'muted', text: t(label) })))),
    h('h3', { text: t('event.hours') }),
    e.timeline.length ? h('div', { 'data-event-chart': e.timeline.length }, mediaChart(e.timeline)) : h('p', { class: 'muted', text: t('event.noMedia') }),
    h('h3', { text: t('event.booths') }),
    h('div', { class: 'scroll' }, h('table', {}, head('events.booth'), h('tbody', {}, ...e.perPhotomaton.map((b) => row(h('a', { href: `#/booth/${b.photomatonId}`, text: state.booths.get(b.photomatonId)?.name || `#${b.photomatonId}` }), b.totals))))),
    e.booths.length ? [
      h('h3', { text: t('event.uptime') }),
      h('div', { class: 'scroll' }, h('table', { 'data-event-uptime': e.booths.length },
        h('thead', {}, h('tr', {}, ...['events.booth', 'event.pc', 'event.router', 'event.outages', 'event.observed'].map((k) => h('th', { text: t(k) })))),
        h('tbody', {}, ...e.booths.map((b) => h('tr', { 'data-uptime': b.photomatonId }, h('td', {}, h('a', { href: `#/booth/${b.photomatonId}`, text: b.name })),
          h('td', { class: 'n', text: percent(b.uptime.pcPercent) }), h('td', { class: 'n', text: percent(b.uptime.routerPercent) }),
          h('td', { class: 'n', text: b.uptime.pcOutages }), h('td', { class: 'n', text: hoursOf(b.uptime.observedSecs) })))))),
    ] : null,
    paper.length ? [h('h3', { text: t('event.paper') }), h('div', { 'data-event-paper': paper.length }, paperChart(paper.map((b) => ({ name: b.name, points: b.paper.map((p) => ({ at: p.at, value: p.remainingPrints })) })), null, until))] : null,
    h('h3', { text: t('event.hours') }),
    h('div', { class: 'scroll' }, h('table', { 'data-event-hours': e.timeline.length }, h('thead', {}, h('tr', {}, h('th', { text: t('event.hour') }), ...kinds.map(([, label]) => h('th', { class: 'n', text: t(label) })))),
      h('tbody', {}, ...e.timeline.map((b) => h('tr', {}, h('td', { text: hourFmt.format(new Date(b.hour)) }), ...kinds.map(([k]) => h('td', { class: 'n', text: b.totals[k] }))))))));
}

// ---------------------------------------------------------------------------------------- admin
function form(fields, values, submit, label) {
  return h('form', { class: 'toolbar', onsubmit: async (e) => {
    e.preventDefault();
    const body = {};
    for (const [name, type] of fields) {
      const v = e.target.elements[name].value.trim();
      if (v !== '') body[name] = type === 'number' ? Number(v) : v;
    }
    const out = e.target.querySelector('[data-outcome]');
    try {
      await submit(body);
      state.saved = label;
      await render();
    } catch (err) { outcome(out, '', err); }
  } }, ...fields.map(([name, type, options]) => h('label', { class: 'field' }, h('span', { text: t('f.' + name) }), options
    ? h('select', { name }, ...options.map((o) => h('option', { value: o, selected: values?.[name] === o, text: t('role.' + o) })))
    : h('input', { name, type, value: values?.[name] ?? '', min: type === 'number' ? 0 : null, autocomplete: type === 'password' ? 'new-password' : 'off' }))),
  h('button', { class: 'btn primary', type: 'submit', text: label }), h('span', { 'data-outcome': '', role: 'status', class: 'ok', text: state.saved === label ? t('saved') : '' }));
}

function showPairing(pairing) {
  const command = `boom-agent pair --ingest-url ${t('pair.url')} ${pairing.code}`;
  const dialog = h('dialog', { 'data-pairing': '' }, h('h2', { text: t('pair.title') }),
    h('p', {}, h('code', { class: 'key', 'data-pairing-code': '', text: pairing.code })),
    h('p', { class: 'muted', text: t('pair.until').replace('{t}', when(pairing.expiresAt)) }),
    h('p', { text: t('pair.how') }), h('code', { class: 'key', text: command }),
    h('div', { class: 'toolbar' }, h('button', { class: 'btn', type: 'button', onclick: () => navigator.clipboard?.writeText(command), text: t('admin.copy') }),
      h('button', { class: 'btn primary', type: 'button', onclick: () => dialog.close(), text: t('admin.close') })));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function showKey(key) {
  const dialog = h('dialog', {}, h('p', { text: t('admin.key.once') }), h('code', { class: 'key', text: key }),
    h('div', { class: 'toolbar' }, h('button', { class: 'btn', type: 'button', onclick: () => navigator.clipboard?.writeText(key), text: t('admin.copy') }),
      h('button', { class: 'btn primary', type: 'button', onclick: () => dialog.close(), text: t('admin.close') })));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/** An audit entry's details as words: `key: value`, one after the other. */
function details(d) {
  if (!d || typeof d !== 'object') return d ? String(d) : '';
  return Object.entries(d).map(([k, v]) => `${t('f.' + k) !== 'f.' + k ? t('f.' + k) : k} : ${v && typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ');
}

/** A new agent key stops the booth's current one at once: said, and asked, first. */
function confirmKey(b) {
  const dialog = h('dialog', { 'data-key-confirm': b.id, 'aria-labelledby': `key-title-${b.id}` },
    h('h2', { id: `key-title-${b.id}`, text: t('key.title').replace('{n}', b.name) }),
    h('p', { text: t('key.consequence') }),
    b.agentSeenAt ? h('p', { class: 'muted', text: t('key.lastSeen').replace('{t}', when(b.agentSeenAt)) }) : null,
    h('div', { class: 'toolbar' },
      h('button', { class: 'btn', type: 'button', 'data-key-cancel': '', onclick: () => dialog.close(), text: t('key.cancel') }),
      h('button', { class: 'btn danger', type: 'button', 'data-key-replace': '', onclick: async () => {
        try { const { apiKey } = await api('POST', `/api/photomatons/${b.id}/api-key`, {}); dialog.close(); showKey(apiKey); } catch (err) { outcome(dialog.querySelector('[data-outcome]'), '', err); }
      }, text: t('key.replace') })),
    h('p', { 'data-outcome': '', role: 'status' }));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

async function admin() {
  const f = state.auditFilter || {};
  const auditQuery = new URLSearchParams({ limit: 50 });
  for (const k of ['userId', 'action', 'from', 'to']) if (f[k]) auditQuery.set(k, f[k]);
  const [users, audit, dead] = await Promise.all([api('GET', '/api/users?limit=200'), api('GET', `/api/audit-logs?${auditQuery}`), api('GET', '/api/dead-letters?limit=20').catch(() => ({ items: [] }))]);
  const local = (iso) => (iso ? new Date(new Date(iso).getTime() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : '');
  const auditFilter = h('form', { class: 'toolbar', 'data-audit-filter': '', onsubmit: (e) => {
    e.preventDefault();
    const el = e.target.elements;
    const iso = (v) => (v ? new Date(v).toISOString() : '');
    state.auditFilter = { userId: el.userId.value, action: el.action.value.trim(), from: iso(el.from.value), to: iso(el.to.value) };
    render();
  } },
  h('select', { name: 'userId', 'aria-label': t('f.who') }, h('option', { value: '', text: t('audit.anyone') }),
    ...users.items.map((u) => h('option', { value: u.id, selected: String(f.userId) === String(u.id), text: u.username }))),
  h('input', { name: 'action', placeholder: t('f.action'), 'aria-label': t('f.action'), value: f.action || '' }),
  h('input', { name: 'from', type: 'datetime-local', 'aria-label': t('audit.from'), value: local(f.from) }),
  h('input', { name: 'to', type: 'datetime-local', 'aria-label': t('audit.to'), value: local(f.to) }),
  h('button', { class: 'btn', type: 'submit', text: t('audit.filter') }));
  const boothFields = [['name', 'text'], ['hostname', 'text'], ['tailscaleIp', 'text'], ['routerTailscaleIp', 'text'], ['macAddress', 'text'], ['wakeTarget', 'text'], ['paperCapacity', 'number'], ['warningThreshold', 'number'], ['criticalThreshold', 'number'], ['downAfterSecs', 'number'], ['silentAfterSecs', 'number']];
  const editing = state.editing ? state.booths.get(state.editing) : null;
  return [
    h('section', { class: 'panel' }, h('h2', { text: t('admin.booths') }),
      form(boothFields, editing, async (body) => {
        const saved = editing ? await api('PATCH', `/api/photomatons/${editing.id}`, body) : await api('POST', '/api/photomatons', body);
        state.booths.set(saved.id, saved); state.editing = null;
      }, editing ? t('admin.save') : t('admin.create')),
      h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['f.name', 'f.hostname', 'f.macAddress', 'admin.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', {}, ...[...state.booths.values()].sort((a, b) => a.name.localeCompare(b.name)).map((b) => h('tr', {}, h('th', { scope: 'row' }, h('a', { href: `#/booth/${b.id}`, text: b.name })), h('td', { text: b.hostname }), h('td', { text: b.macAddress || '—' }),
          h('td', {}, h('button', { class: 'link', type: 'button', onclick: () => { state.editing = b.id; state.saved = null; render(); }, text: t('admin.edit') }), ' · ',
            h('button', { class: 'link', type: 'button', 'data-new-key': b.id, onclick: () => confirmKey(b), text: t('admin.key') }), ' · ',
            h('button', { class: 'link', type: 'button', onclick: async () => { if (confirm(t('admin.deleteAsk').replace('{n}', b.name))) { await api('DELETE', `/api/photomatons/${b.id}`); state.booths.delete(b.id); render(); } }, text: t('admin.delete') })))))))),
    h('section', { class: 'panel' }, h('h2', { text: t('admin.users') }),
      form([['username', 'text'], ['password', 'password'], ['email', 'email'], ['role', 'select', ['VIEWER', 'INSTALLER', 'ADMIN']]], null, (body) => api('POST', '/api/users', body), t('admin.create')),
      h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['f.username', 'f.role', 'f.signIn', 'admin.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))), h('tbody', {}, ...users.items.map((u) => h('tr', {}, h('th', { scope: 'row' }, u.username, u.email ? h('small', { class: 'muted', text: ` ${u.email}` }) : null),
        h('td', {}, u.id === state.me.id ? t('role.' + u.role) : h('select', { 'data-role-of': u.username, 'aria-label': `${t('f.role')} ${u.username}`, onchange: async (e) => {
          try { await api('PATCH', `/api/users/${u.id}`, { role: e.target.value }); render(); } catch (err) { outcome(e.target.parentElement.querySelector('[data-outcome]'), '', err); }
        } }, ...['VIEWER', 'INSTALLER', 'ADMIN'].map((r) => h('option', { value: r, selected: u.role === r, text: t('role.' + r) }))), h('span', { 'data-outcome': '', role: 'status' })),
        h('td', {}, u.singleSignOn ? h('span', { 'data-sso-bound': u.username, text: `${t('user.sso')} · ` }) : null,
          u.id === state.me.id ? t(u.passwordLogin ? 'user.password' : 'user.noPassword') : h('label', { class: 'check' }, h('input', { type: 'checkbox', 'data-password-login': u.username, checked: u.passwordLogin, onchange: async (e) => {
            try { await api('PATCH', `/api/users/${u.id}`, { passwordLogin: e.target.checked }); render(); } catch (err) { e.target.checked = !e.target.checked; outcome(e.target.closest('td').querySelector('[data-outcome]'), '', err); }
          } }), t('user.password')), h('span', { 'data-outcome': '', role: 'status' })),
        h('td', {}, u.id === state.me.id ? '' : h('button', { class: 'link', type: 'button', onclick: async () => { if (confirm(t('admin.deleteUserAsk').replace('{n}', u.username))) { await api('DELETE', `/api/users/${u.id}`); render(); } }, text: t('admin.delete') })))))))),
    h('section', { class: 'panel' }, h('h2', { text: t('admin.audit') }), auditFilter,
      h('div', { class: 'scroll' }, h('table', { 'data-audit': audit.items.length }, h('thead', {}, h('tr', {}, ...['f.when', 'f.who', 'f.action', 'f.what'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', {}, ...audit.items.map((a) => h('tr', {}, h('td', { text: when(a.createdAt) }), h('td', { text: a.username || '—' }), h('td', { title: a.action, text: I18N[lang]['audit.' + a.action] ?? a.action }), h('td', { class: 'muted', text: details(a.details) }))))))),
    dead.items.length ? h('section', { class: 'panel', 'data-dead-letters': dead.items.length }, h('h2', { text: t('dead.title') }), h('p', { class: 'muted', text: t('dead.why') }),
      h('div', { class: 'scroll' }, h('table', {}, h('tr', {}, ...['f.when', 'dead.booth', 'refused.reason', 'refused.line'].map((k) => h('th', { text: t(k) }))),
        ...dead.items.map((d) => h('tr', {}, h('td', { text: when(d.createdAt) }), h('td', { text: state.booths.get(d.photomatonId)?.name || d.photomatonId || '—' }), h('td', { text: d.reason }), h('td', {}, h('code', { text: d.payload.slice(0, 300) })),
          h('td', {}, h('button', { class: 'link', type: 'button', 'data-replay': d.id, onclick: async () => { if (confirm(t('dead.replay.confirm'))) { await api('POST', `/api/dead-letters/${d.id}/replay`, {}); render(); } }, text: t('dead.replay') }))))))) : null,
  ];
}

// ---------------------------------------------------------------------------------------- login
/** The sign-in page's other ways in (single sign-on), asked once per page load. */
let providers = null;
function login() {
  const error = h('p', { class: 'error', role: 'alert' });
  const others = h('div', { class: 'sso', 'data-sso': '' });
  providers ??= api('GET', '/api/auth/providers').catch(() => ({ oidc: null }));
  providers.then((p) => {
    if (p?.oidc) others.replaceChildren(h('p', { class: 'muted', text: t('login.or') }), h('a', { class: 'btn primary', href: p.oidc.loginUrl, 'data-sso-login': '', text: t('login.sso').replace('{p}', p.oidc.name) }));
  });
  return h('form', { class: 'login panel', onsubmit: async (e) => {
    e.preventDefault();
    try {
      state.me = await api('POST', '/api/auth/login', { username: e.target.elements.username.value, password: e.target.elements.password.value });
      lang = state.me.preferredLanguage || lang;
      localStorage.setItem('lang', lang);
      await loadFleet();
      connect();
      location.hash = '#/';
    } catch (err) { error.replaceChildren(...refusal(err)); }
  } }, h('h1', { text: t('login.title') }),
  h('input', { name: 'username', autocomplete: 'username', placeholder: t('login.username'), 'aria-label': t('login.username'), required: true }),
  h('input', { name: 'password', type: 'password', autocomplete: 'current-password', placeholder: t('login.password'), 'aria-label': t('login.password'), required: true }),
  h('button', { class: 'btn primary', type: 'submit', text: t('login.submit') }), error, others);
}

// --------------------------------------------------------------------------------------- router
let rendering = 0;
async function render() {
  const ticket = ++rendering;
  chrome();
  const route = location.hash.replace(/^#/, '') || '/';
  const main = $('#main');
  if (!state.me) { if (route !== '/login') { location.hash = '#/login'; return; } main.replaceChildren(login()); return; }
  let view;
  try {
    if (route.startsWith('/booth/')) view = await booth(Number(route.split('/')[2]));
    else if (route.split('?')[0] === '/events') view = await events();
    else if (route.startsWith('/event/')) view = await eventPage(Number(route.split('/')[2]));
    else if (route === '/alerts') view = await alerts();
    else if (route === '/admin' && may('ADMIN')) view = await admin();
    else if (route === '/login') { location.hash = '#/'; return; }
    else view = fleet();
  } catch (err) { view = h('p', { class: 'error', text: err.message }); }
  if (ticket === rendering) main.replaceChildren(...[view].flat().filter(Boolean));
}

$('#lang').addEventListener('click', async () => {
  lang = lang === 'fr' ? 'en' : 'fr';
  localStorage.setItem('lang', lang);
  if (state.me) { try { state.me = await api('PATCH', '/api/auth/me', { preferredLanguage: lang }); } catch { /* kept locally */ } }
  render();
});
// Installable, and the last known fleet when the network drops (sw.js).
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => { /* the page works without it */ });
$('#logout').addEventListener('click', async () => { try { await api('POST', '/api/auth/logout', {}); } finally { signedOut(); } });
window.addEventListener('hashchange', render);
setInterval(() => { for (const el of document.querySelectorAll('[data-iso]')) el.textContent = seen(el.dataset.iso || null); }, 30000);

(async () => {
  try {
    state.me = await api('GET', '/api/auth/me');
    lang = state.me.preferredLanguage || lang;
    await loadFleet();
    connect();
  } catch { state.me = null; }
  render();
})();
