/**
 * A reload (SIGHUP, `systemctl reload wsnic`): the token file and the wss:// certificate are read
 * again; clients stay. What cannot be read is logged and the old one kept.
 */
import type https from 'node:https';
import type { Logger } from '../log';
import type { Admission } from './admission';
import { readTls } from './listeners';

export function reload(o: { admission: Admission; tokensFile: string; tls: https.Server | undefined; certificate: string; privateKey: string; log: Logger }): void {
  const { log } = o;
  if (o.admission.requiresToken) {
    try {
      log.info('tokens reloaded', { file: o.tokensFile, tokens: o.admission.reload() });
    } catch (err) {
      log.error('tokens reload failed, keeping the old ones', { reason: (err as Error).message });
    }
  }
  if (o.tls && o.certificate) {
    try {
      o.tls.setSecureContext(readTls(o.certificate, o.privateKey));
      log.info('certificate reloaded', { file: o.certificate });
    } catch (err) {
      log.error('certificate reload failed, keeping the old one', { reason: (err as Error).message });
    }
  } else log.info('reload: nothing to reload (no wss_certificate)');
}
