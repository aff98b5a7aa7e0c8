// Options refused at construction leave nothing open: the store (which holds a lock) is opened only
// once every option has been checked, so a corrected retry in the same process opens it.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createRecordingInteractionService } from '../../src/io/recording-interaction-service.js';
import { createSwitchboard } from '../../src/switchboard.js';
import { tempStoreDir } from '../support/temp-dir.js';

describe('construction that fails', () => {
  it('does not keep the store open: a corrected retry opens it', async () => {
    const dir = tempStoreDir('sb-startup-');
    const base = { interactions: createRecordingInteractionService(), logger: pino({ level: 'silent' }), store: { path: dir } };
    expect(() => createSwitchboard({ ...base, pubsub: { topic: '/event/x__e', payloadField: 'p__c', typeField: 't__c' } })).toThrow(/pubsub needs `auth`/);
    expect(() => createSwitchboard({ ...base, pubsub: { topic: '/event/x__e', payloadField: '', typeField: 't__c', auth: { instanceUrl: 'https://x', tenantId: 't', getToken: async () => 'x' } } })).toThrow(/payloadField/);
    const sb = createSwitchboard(base);
    await sb.start();
    await sb.stop();
  });
});
