import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches } from '../../../broker-server/broker/external-broker';
import { urlForLog } from '../../../runtime/logger';

test('topic filters match as MQTT says: + is one level, # the rest', () => {
  assert.ok(topicMatches('printers/+/acks', 'printers/p1/acks'));
  assert.ok(!topicMatches('printers/+/acks', 'printers/p1/jobs'));
  assert.ok(!topicMatches('printers/+/acks', 'printers/p1/acks/x'));
  assert.ok(topicMatches('printers/#', 'printers/p1/status'));
  assert.ok(!topicMatches('printers/p1/jobs', 'printers/p1'));
});

test('a broker or database URL in logs never carries its password', () => {
  assert.equal(urlForLog('mqtt://broker:1883'), 'mqtt://broker:1883');
  assert.equal(urlForLog('mqtt://printhop-server:s3cret@broker:1883'), 'mqtt://***:***@broker:1883');
  assert.ok(!urlForLog('mqtts://u:p%40ss@broker/').includes('p%40ss'));
  assert.ok(!urlForLog('postgres://printhop:s3cret@db:5432/printhop').includes('s3cret'));
});
