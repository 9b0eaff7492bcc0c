import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCasError } from '../../src/cas/errors.ts';
import {
  parseTemplate,
  renderTemplate,
  SELF_PRIVATE_KEY_PLACEHOLDER,
  type TemplateContext,
  templateSecretNames,
} from '../../src/cas/template.ts';

const SECRET_VALUE = 'S3CRET-VALUE-0123';

const ctx: TemplateContext = {
  secret(name, field) {
    if (name === 'dbKey' && field === 'hex') return SECRET_VALUE;
    throw new TypeError(`no ${name}.${field}`);
  },
  self(field) {
    if (field === 'name') return 'mdc';
    if (field === 'instanceId') return 'i-1';
    return undefined;
  },
};

describe('renderTemplate', () => {
  it('substitutes secrets and self fields, with or without spaces inside the braces', () => {
    assert.equal(
      renderTemplate('k={{ secrets.dbKey.hex }};n={{self.name}};i={{  self.instanceId  }}', ctx, 'env.X'),
      `k=${SECRET_VALUE};n=mdc;i=i-1`,
    );
  });

  it('leaves text without expressions alone, single braces included', () => {
    assert.equal(renderTemplate('plain { text } and }} too', ctx, 'args[0]'), 'plain { text } and }} too');
    assert.equal(renderTemplate('', ctx, 'args[0]'), '');
  });

  it('leaves self fields the CAS cannot fill for the service runtime, in a canonical form', () => {
    assert.equal(renderTemplate('{{self.privateKey.pem}}', ctx, 'files["/k"]'), SELF_PRIVATE_KEY_PLACEHOLDER);
    assert.equal(
      renderTemplate('a {{ self.certificate.pem }} b', ctx, 'f'),
      'a {{ self.certificate.pem }} b',
    );
  });

  it('refuses anything else inside braces, naming where', () => {
    for (const bad of [
      '{{ secrets.dbKey }}',
      '{{ env.HOME }}',
      '{{ self.key }}',
      '{{ secrets..x }}',
      '{{}}',
      '{{ x',
    ]) {
      assert.throws(
        () => renderTemplate(bad, ctx, 'services.mdc.env.X'),
        (err: unknown) => isCasError(err, 'ERR_POLICY_INVALID') && err.path === 'services.mdc.env.X',
        bad,
      );
    }
  });

  it('never puts rendered secret values into its errors', () => {
    try {
      renderTemplate('{{ secrets.dbKey.hex }} {{ bogus }}', ctx, 'env.X');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(!String((err as Error).message).includes(SECRET_VALUE));
    }
  });
});

describe('templateSecretNames and parseTemplate', () => {
  it('lists the distinct secret names in order of first use', () => {
    assert.deepEqual(
      templateSecretNames('{{ secrets.b.hex }}{{ secrets.a.value }}{{ self.name }}{{ secrets.b.base64 }}'),
      ['b', 'a'],
    );
    assert.deepEqual(templateSecretNames('no secrets'), []);
  });

  it('splits a template into text and expressions', () => {
    assert.deepEqual(parseTemplate('x{{ secrets.k.hex }}y{{ self.name }}', 'w'), [
      { kind: 'text', text: 'x' },
      { kind: 'secret', name: 'k', field: 'hex' },
      { kind: 'text', text: 'y' },
      { kind: 'self', field: 'name' },
    ]);
  });
});
