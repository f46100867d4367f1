/**
 * Layouts shared by TypeScript and WGSL, written once (docs/ARCHITECTURE.md §9: "a layout shared by two languages
 * ... is written once and generated or checked at load for the other"). A family describes its
 * structs and constants here in TypeScript; the host packs buffers by the word offsets, and the
 * WGSL declarations are generated from the same table into a prelude that the pipeline cache
 * prepends to the family's shaders (PipelineSpec.prelude). The .wgsl files then declare none of
 * them, so the two sides cannot drift apart.
 *
 * Only 4-byte scalars and fixed arrays of them are allowed: their WGSL offsets are then exactly
 * 4·(words before), with no implicit padding. Arrays have a 16-byte stride in the uniform address
 * space, so a struct with an array field is for storage buffers only.
 */

export type WgslScalar = 'u32' | 'i32' | 'f32';
/** A scalar, or [scalar, count] for array<scalar, count>. */
export type FieldType = WgslScalar | readonly [WgslScalar, number];

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkIdent(name: string): void {
  if (!IDENT.test(name) || name.startsWith('__')) throw new Error(`wgsl-layout: '${name}' is not a WGSL identifier`);
}

/** A struct of 32-bit words: word offsets for the host, the declaration for the shader. */
export class WordStruct<F extends string> {
  /** Word offset of each field, in declaration order. */
  readonly at: Readonly<Record<F, number>>;
  readonly words: number;
  readonly bytes: number;

  /** Fields in object-key order (the declaration order). */
  constructor(readonly name: string, readonly fields: Readonly<Record<F, FieldType>>) {
    checkIdent(name);
    const at: Record<string, number> = {};
    let w = 0;
    for (const [field, type] of Object.entries(fields) as [string, FieldType][]) {
      checkIdent(field);
      const count = typeof type === 'string' ? 1 : type[1];
      if (!Number.isInteger(count) || count < 1) throw new Error(`wgsl-layout: ${name}.${field}: array length ${count}`);
      at[field] = w;
      w += count;
    }
    this.at = at as Record<F, number>;
    this.words = w;
    this.bytes = 4 * w;
  }

  /** The WGSL declaration. */
  wgsl(): string {
    const lines = (Object.entries(this.fields) as [string, FieldType][]).map(([field, type]) =>
      `  ${field}: ${typeof type === 'string' ? type : `array<${type[0]}, ${type[1]}>`},`,
    );
    return `struct ${this.name} {\n${lines.join('\n')}\n}\n`;
  }
}

/** `const NAME: u32 = Vu;` per entry: the WGSL twins of a TypeScript table of codes. */
export function wgslConstants(table: Readonly<Record<string, number>>, type: WgslScalar = 'u32'): string {
  return Object.entries(table)
    .map(([name, value]) => {
      checkIdent(name);
      return `const ${name}: ${type} = ${literal(value, type)};\n`;
    })
    .join('');
}

function literal(value: number, type: WgslScalar): string {
  if (type === 'f32') {
    if (!Number.isFinite(value)) throw new Error(`wgsl-layout: f32 constant ${value} is not finite`);
    return `${Number.isInteger(value) ? value.toFixed(1) : String(value)}f`;
  }
  const lo = type === 'u32' ? 0 : -(2 ** 31);
  const hi = type === 'u32' ? 2 ** 32 - 1 : 2 ** 31 - 1;
  if (!Number.isInteger(value) || value < lo || value > hi) throw new Error(`wgsl-layout: ${value} is not a ${type}`);
  return type === 'u32' ? `${value}u` : `${value}i`;
}

/**
 * Generated WGSL that the pipeline cache puts in front of a shader's source. Pipelines are cached
 * by `name`, so one name must always carry the same code (the cache checks).
 */
export interface WgslPrelude {
  readonly name: string;
  readonly code: string;
}
