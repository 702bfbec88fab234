import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILES, generatedFiles } from '../../scripts/openapi';

const ROOT = path.resolve(__dirname, '../..');

describe('the committed OpenAPI document and client types', () => {
  it('are what `npm run openapi` generates from the zod schemas now (run it after changing the API)', async () => {
    const fresh = await generatedFiles();
    for (const file of GENERATED_FILES) {
      const committed = fs.readFileSync(path.join(ROOT, file), 'utf8');
      expect(committed === fresh[file], `${file} is stale: run npm run openapi and commit the result`).toBe(true);
    }
  }, 60_000);

  it('the CLI client and the SDK are generated from the same document', () => {
    expect(fs.readFileSync(path.join(ROOT, 'packages/client/src/schema.ts'), 'utf8')).toBe(
      fs.readFileSync(path.join(ROOT, 'src/client/schema.ts'), 'utf8'),
    );
  });
});
