/**
 * Gives zod schemas `.openapi(name)`, so a schema can name itself in the OpenAPI document. Imported first by every
 * module that builds schemas the document shows: the method must exist before they are built.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);
