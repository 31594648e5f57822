/*
 * Where in an html document a placeholder lands: in text, in a tag (attribute names or an unquoted value), or in the
 * value of an attribute that holds a URL. A small tokenizer after the HTML standard's (§13.2.5), reduced to what that
 * question needs: tags and attributes, comments and other markup declarations, and the raw text of elements such as
 * <style> whose content is not markup. It is fed the output as it is rendered (the author's markup and the escaped
 * values), so it sees the document the way a mail client's parser will. Pure code: it runs inside workflow code.
 */

/** Attributes whose value is a URL that a client may follow, load or submit to. */
export const URL_ATTRIBUTES: ReadonlySet<string> = new Set([
  'href',
  'src',
  'srcset',
  'action',
  'formaction',
  'xlink:href',
  'background',
  'poster',
  'cite',
  'longdesc',
  'usemap',
  'data',
  'codebase',
  'classid',
  'archive',
  'lowsrc',
  'dynsrc',
  'ping',
  'icon',
  'manifest',
  'profile',
]);

/** Elements whose content is text up to their end tag, never markup. */
const RAW_TEXT_ELEMENTS: ReadonlySet<string> = new Set([
  'style',
  'script',
  'title',
  'textarea',
  'xmp',
  'iframe',
  'noembed',
  'noframes',
  'noscript',
]);

/**
 * What a placeholder at the current position would be part of:
 * - `text`: text content, a comment, raw text, or a quoted value of an attribute that is not a URL;
 * - `tag`: inside a tag but not inside a quoted value (a tag or attribute name, or an unquoted value), where a space
 *   or `=` in a value would start another attribute;
 * - `url`: the value of a URL attribute; `before` is that value's text so far, as written (entities not decoded).
 */
export type HtmlSpot = { kind: 'text' } | { kind: 'tag' } | { kind: 'url'; quoted: boolean; before: string };

type State =
  | 'data'
  | 'tagOpen'
  | 'endTagOpen'
  | 'markup'
  | 'markupDash'
  | 'commentStart'
  | 'commentStartDash'
  | 'comment'
  | 'bogus'
  | 'tagName'
  | 'beforeAttrName'
  | 'attrName'
  | 'afterAttrName'
  | 'beforeAttrValue'
  | 'valueDoubleQuoted'
  | 'valueSingleQuoted'
  | 'valueUnquoted'
  | 'afterValue'
  | 'rawText';

const isSpace = (char: string) =>
  char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\f';
const isLetter = (char: string) => (char >= 'a' && char <= 'z') || (char >= 'A' && char <= 'Z');

export class HtmlScanner {
  private state: State = 'data';
  private tagName = '';
  private closing = false;
  private attrName = '';
  /** The current URL attribute's value so far (kept for URL attributes only). */
  private value = '';
  /** Dashes just seen in a comment. */
  private dashes = 0;
  /** In raw text: `</name`, and how much of it the last characters matched. */
  private rawEnd = '';
  private rawMatched = 0;

  /** Reads the next piece of the document. */
  feed(text: string): void {
    for (const char of text) this.step(char);
  }

  spot(): HtmlSpot {
    switch (this.state) {
      case 'tagOpen':
      case 'endTagOpen':
      case 'tagName':
      case 'beforeAttrName':
      case 'attrName':
      case 'afterAttrName':
      case 'afterValue':
        return { kind: 'tag' };
      case 'beforeAttrValue':
      case 'valueUnquoted':
        return URL_ATTRIBUTES.has(this.attrName)
          ? { kind: 'url', quoted: false, before: this.value }
          : { kind: 'tag' };
      case 'valueDoubleQuoted':
      case 'valueSingleQuoted':
        return URL_ATTRIBUTES.has(this.attrName)
          ? { kind: 'url', quoted: true, before: this.value }
          : { kind: 'text' };
      default:
        return { kind: 'text' };
    }
  }

  private step(char: string): void {
    switch (this.state) {
      case 'data':
        if (char === '<') this.state = 'tagOpen';
        return;
      case 'tagOpen':
        if (isLetter(char)) this.startTag(char, false);
        else if (char === '/') this.state = 'endTagOpen';
        else if (char === '!') this.state = 'markup';
        else if (char === '?') this.state = 'bogus';
        else this.state = char === '<' ? 'tagOpen' : 'data';
        return;
      case 'endTagOpen':
        if (isLetter(char)) this.startTag(char, true);
        else this.state = char === '>' ? 'data' : 'bogus';
        return;
      case 'markup':
        if (char === '-') this.state = 'markupDash';
        else this.state = char === '>' ? 'data' : 'bogus';
        return;
      case 'markupDash':
        if (char === '-') this.state = 'commentStart';
        else this.state = char === '>' ? 'data' : 'bogus';
        return;
      case 'commentStart':
        if (char === '>') this.state = 'data';
        else if (char === '-') this.state = 'commentStartDash';
        else this.enterComment(0);
        return;
      case 'commentStartDash':
        if (char === '>') this.state = 'data';
        else this.enterComment(char === '-' ? 2 : 0);
        return;
      case 'comment':
        // `-->` ends a comment, and so does `--!>`.
        if (char === '-') this.dashes++;
        else if (char === '>' && this.dashes >= 2) this.state = 'data';
        else if (!(char === '!' && this.dashes >= 2)) this.dashes = 0;
        return;
      case 'bogus':
        if (char === '>') this.state = 'data';
        return;
      case 'tagName':
        if (isSpace(char)) this.state = 'beforeAttrName';
        else if (char === '/') this.state = 'beforeAttrName';
        else if (char === '>') this.endTag();
        else this.tagName += char.toLowerCase();
        return;
      case 'beforeAttrName':
        if (isSpace(char) || char === '/') return;
        if (char === '>') this.endTag();
        else this.startAttribute(char);
        return;
      case 'attrName':
        if (isSpace(char)) this.state = 'afterAttrName';
        else if (char === '/') this.state = 'beforeAttrName';
        else if (char === '=') this.state = 'beforeAttrValue';
        else if (char === '>') this.endTag();
        else this.attrName += char.toLowerCase();
        return;
      case 'afterAttrName':
        if (isSpace(char)) return;
        if (char === '/') this.state = 'beforeAttrName';
        else if (char === '=') this.state = 'beforeAttrValue';
        else if (char === '>') this.endTag();
        else this.startAttribute(char);
        return;
      case 'beforeAttrValue':
        if (isSpace(char)) return;
        if (char === '"') this.state = 'valueDoubleQuoted';
        else if (char === "'") this.state = 'valueSingleQuoted';
        else if (char === '>') this.endTag();
        else {
          this.state = 'valueUnquoted';
          this.appendValue(char);
        }
        return;
      case 'valueDoubleQuoted':
        if (char === '"') this.state = 'afterValue';
        else this.appendValue(char);
        return;
      case 'valueSingleQuoted':
        if (char === "'") this.state = 'afterValue';
        else this.appendValue(char);
        return;
      case 'valueUnquoted':
        if (isSpace(char)) this.state = 'beforeAttrName';
        else if (char === '>') this.endTag();
        else this.appendValue(char);
        return;
      case 'afterValue':
        if (isSpace(char) || char === '/') this.state = 'beforeAttrName';
        else if (char === '>') this.endTag();
        else this.startAttribute(char);
        return;
      case 'rawText':
        if (char.toLowerCase() === this.rawEnd[this.rawMatched]) {
          this.rawMatched++;
          // The end tag: from here on it is read like any other tag (`</style >`).
          if (this.rawMatched === this.rawEnd.length) {
            this.state = 'tagName';
            this.closing = true;
          }
        } else {
          this.rawMatched = char === '<' ? 1 : 0;
        }
        return;
    }
  }

  private startTag(first: string, closing: boolean) {
    this.state = 'tagName';
    this.tagName = first.toLowerCase();
    this.closing = closing;
  }

  private endTag() {
    if (!this.closing && RAW_TEXT_ELEMENTS.has(this.tagName)) {
      this.state = 'rawText';
      this.rawEnd = `</${this.tagName}`;
      this.rawMatched = 0;
    } else {
      this.state = 'data';
    }
  }

  private startAttribute(first: string) {
    this.state = 'attrName';
    this.attrName = first.toLowerCase();
    this.value = '';
  }

  private appendValue(char: string) {
    if (URL_ATTRIBUTES.has(this.attrName)) this.value += char;
  }

  private enterComment(dashes: number) {
    this.state = 'comment';
    this.dashes = dashes;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// URLs in attributes

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  colon: ':',
  sol: '/',
  quest: '?',
  num: '#',
  Tab: '\t',
  NewLine: '\n',
};

const REFERENCE = /&(?:#(\d{1,7});?|#[xX]([0-9a-fA-F]{1,6});?|([A-Za-z]+);)/g;

/**
 * Decodes the character references that can spell a URL's scheme or its delimiters (numeric ones, and the named
 * ones for `:/?#`, tab, newline and markup characters), once, as a parser does. Other references are left as they
 * are: the check that reads the result then sees no scheme, which errs on the safe side.
 */
export function decodeAttributeText(text: string): string {
  return text.replace(REFERENCE, (whole: string, dec?: string, hex?: string, name?: string) => {
    if (dec !== undefined || hex !== undefined) {
      const code = dec !== undefined ? Number(dec) : parseInt(hex ?? '', 16);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
    }
    return (name !== undefined ? NAMED_ENTITIES[name] : undefined) ?? whole;
  });
}

/**
 * What a URL parser makes of the start of an attribute value: leading spaces and control characters stripped, tabs and
 * line breaks removed wherever they are.
 */
function normalizeUrlText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+/, '');
}

/** Schemes a rendered value may give a URL attribute. */
const ALLOWED_URL = /^(?:https?|mailto):/i;

/**
 * Whether a value inserted into a URL attribute, after `before` (that attribute's value so far, as written), can be
 * kept. Once `before` holds a `:`, `/`, `?` or `#`, the URL's scheme is settled by what precedes (the author's literal
 * text, or an earlier value that passed this check), so the value only adds to a path, query or fragment. Otherwise
 * the value decides the scheme: `before` + value must start with `http:`, `https:` or `mailto:`.
 */
export function urlValueAllowed(before: string, value: string): boolean {
  const prefix = normalizeUrlText(decodeAttributeText(before));
  if (/[:/?#]/.test(prefix)) return true;
  return ALLOWED_URL.test(normalizeUrlText(prefix + value));
}
