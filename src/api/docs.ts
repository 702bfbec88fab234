import path from 'node:path';
import express, { type Express } from 'express';
import { openApiDocument } from './openapi';

/** Swagger UI's files, from the installed npm package: the docs work offline and load nothing from a CDN. */
const ASSETS = path.dirname(require.resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>promptback API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: true });
</script>
</body>
</html>
`;

/**
 * GET /openapi.json (the document, built once) and GET /docs (Swagger UI over it). Neither needs a token: the
 * document says what the API is, not what it holds; the routes it describes still ask for theirs.
 */
export function mountApiDocs(app: Express): void {
  let body: string | undefined;
  app.get('/openapi.json', (_req, res) => {
    body ??= JSON.stringify(openApiDocument());
    res.type('application/json').send(body);
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(PAGE);
  });
  app.use('/docs/assets', express.static(ASSETS, { index: false, maxAge: '1h' }));
}
