import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches, withoutCredentials } from '../broker-server/broker/external-broker';

test('topic filters match as MQTT says: + is one level, # the rest', () => {
  assert.ok(topicMatches('printers/+/acks', 'printers/p1/acks'));
  assert.ok(!topicMatches('printers/+/acks', 'printers/p1/jobs'));
  assert.ok(!topicMatches('printers/+/acks', 'printers/p1/acks/x'));
  assert.ok(topicMatches('printers/#', 'printers/p1/status'));
  assert.ok(!topicMatches('printers/p1/jobs', 'printers/p1'));
});

test('the external broker URL in logs never carries its password', () => {
  assert.equal(withoutCredentials('mqtt://broker:1883'), 'mqtt://broker:1883');
  assert.equal(withoutCredentials('mqtt://printhop-server:s3cret@broker:1883'), 'mqtt://***:***@broker:1883');
  assert.ok(!withoutCredentials('mqtts://u:p%40ss@broker/').includes('p%40ss'));
});
