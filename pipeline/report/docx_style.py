"""The 公文 layout of GB/T 9704-2012 《党政机关公文格式》 for the report's DOCX: page, fonts, page numbers.

What the standard fixes and this module does (clause numbers of GB/T 9704-2012):
- 5.1, 5.2.1: A4 (210 mm × 297 mm); 天头 (top) 37 mm, 订口 (left) 28 mm, 版心 156 mm × 225 mm, so the
  bottom margin is 35 mm and the right one 26 mm.
- 5.2.2, 5.2.3: 3号仿宋 (16 pt) unless said otherwise, 22 lines of 28 characters a page: a line pitch of
  225 mm / 22 = 28.95 pt.
- 7.3.1: the title in 2号小标宋 (22 pt), centred, broken between whole words.
- 7.3.3: 一级标题 in 黑体, 二级 in 楷体, 三级 and 四级 in 仿宋; a paragraph starts two characters in.
- 7.5: page numbers in 4号半角宋体 (14 pt) "— 1 —", below the 版心; odd pages on the right and even pages on
  the left, one character in.
- 8: a table may be set landscape (横排) on A4; its page keeps the 版心 (here 225 mm wide, 156 mm high).
  Not done: the standard puts a landscape page's number on its binding side, turned; here it stays at the
  foot of the landscape page.

Fonts: each run names the 公文 font for Chinese (w:eastAsia) and Times New Roman for Latin letters and digits;
the font table lists, for each 公文 font, alternative names a reader without it should use (w:altName,
ECMA-376 §17.8.3.1): the Windows names, then Noto CJK SC. (LibreOffice ignores w:altName and substitutes
through fontconfig; CJK glyphs are one em wide in every such font, so the layout holds.)
"""

from __future__ import annotations

from typing import Any

from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from lxml import etree

LATIN = "Times New Roman"
# role -> (公文 font, its alternative names, family for a substitute); GB/T 9704-2012 5.2.2, 7.3.1, 7.3.3, 7.5
FONTS = {
    "title": ("方正小标宋简体", "FZXiaoBiaoSong-B05S,小标宋体,Noto Serif CJK SC", "roman"),
    "body": ("仿宋_GB2312", "仿宋,FangSong,Noto Serif CJK SC", "roman"),
    "heading": ("黑体", "SimHei,Noto Sans CJK SC", "swiss"),
    "subheading": ("楷体_GB2312", "楷体,KaiTi,Noto Serif CJK SC", "roman"),
    "page": ("宋体", "SimSun,Noto Serif CJK SC", "roman"),
}
SIZES = {"title": 22.0, "body": 16.0, "heading": 16.0, "subheading": 16.0, "page": 14.0}  # 2号, 3号, 4号
LINE = Pt(28.95)                 # 225 mm / 22 lines
INDENT = Pt(32)                  # two characters of 3号
PORTRAIT = {"width": 210, "height": 297, "top": 37, "bottom": 35, "left": 28, "right": 26}
# the same 版心 turned: its top edge is the binding side (订口), as a landscape page is bound in
LANDSCAPE = {"width": 297, "height": 210, "top": 28, "bottom": 26, "left": 35, "right": 37}
TYPE_AREA_MM = {"portrait": 156.0, "landscape": 225.0}  # 版心 width


def set_font(element: Any, role: str, size: float | None = None, *, bold: bool = False) -> None:
    """Give a run or a style (anything with an rPr) the font of `role` for Chinese and Times New Roman for Latin."""
    rpr = element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attribute), LATIN)
    fonts.set(qn("w:eastAsia"), FONTS[role][0])
    for tag in ("w:b", "w:sz", "w:szCs"):
        found = rpr.find(qn(tag))
        if found is not None:
            rpr.remove(found)
    if bold:
        rpr.append(OxmlElement("w:b"))
    for tag in ("w:sz", "w:szCs"):
        if size is not None:
            node = OxmlElement(tag)
            node.set(qn("w:val"), str(round(size * 2)))  # half-points
            rpr.append(node)
    _reorder(rpr)


_RPR_ORDER = ["rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike", "outline",
              "shadow", "emboss", "imprint", "noProof", "snapToGrid", "vanish", "webHidden", "color", "spacing", "w",
              "kern", "position", "sz", "szCs", "highlight", "u", "effect", "bdr", "shd", "fitText", "vertAlign",
              "rtl", "cs", "em", "lang", "eastAsianLayout", "specVanish", "oMath"]


def _reorder(rpr: Any) -> None:
    """Children of w:rPr in the schema's order (Word refuses a document otherwise)."""
    rank = {qn(f"w:{name}"): n for n, name in enumerate(_RPR_ORDER)}
    children = sorted(rpr, key=lambda child: rank.get(child.tag, len(rank)))
    for child in children:
        rpr.append(child)


def set_language(style: Any) -> None:
    """Chinese text is zh-CN (a substitute font is chosen for that language)."""
    rpr = style.element.get_or_add_rPr()
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    rpr.append(lang)
    _reorder(rpr)


def register_fonts(word: Any) -> None:
    """Name each 公文 font in the font table with its alternative names (the fallbacks) and GB2312 charset."""
    part = next(p for p in word.part.package.parts if p.partname == "/word/fontTable.xml")
    root = etree.fromstring(part.blob)
    for name, alternatives, family in FONTS.values():
        font = etree.SubElement(root, qn("w:font"))
        font.set(qn("w:name"), name)
        for tag, value in (("w:altName", alternatives), ("w:charset", "86"), ("w:family", family),
                           ("w:pitch", "variable")):
            etree.SubElement(font, qn(tag)).set(qn("w:val"), value)
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def lay_out(section: Any, page: dict[str, int]) -> None:
    """Page size, orientation and margins of a section (GB/T 9704-2012 5.2.1)."""
    section.orientation = WD_ORIENT.LANDSCAPE if page["width"] > page["height"] else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(page["width"]), Mm(page["height"])
    section.top_margin, section.bottom_margin = Mm(page["top"]), Mm(page["bottom"])
    section.left_margin, section.right_margin = Mm(page["left"]), Mm(page["right"])
    section.header_distance = Mm(15)
    # the number's line sits 7 mm below the 版心 (7.5): its baseline a line of 4号 lower
    section.footer_distance = Mm(page["bottom"] - 7 - 6)


def page_numbers(word: Any, section: Any) -> None:
    """"— N —" in 4号宋体: odd pages right, even pages left, one character in (7.5)."""
    word.settings.odd_and_even_pages_header_footer = True
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT), (section.even_page_footer,
                                                                          WD_ALIGN_PARAGRAPH.LEFT)):
        paragraph = footer.paragraphs[0]
        paragraph.alignment = align
        paragraph.paragraph_format.left_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.LEFT else None
        paragraph.paragraph_format.right_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.RIGHT else None
        set_font(paragraph.add_run("— ")._r, "page", SIZES["page"])
        field = OxmlElement("w:fldSimple")
        field.set(qn("w:instr"), "PAGE")
        run = OxmlElement("w:r")
        text = OxmlElement("w:t")
        text.text = "1"
        run.append(text)
        field.append(run)
        paragraph._p.append(field)
        set_font(paragraph.add_run(" —")._r, "page", SIZES["page"])


def mark_draft(section: Any) -> None:
    """草稿 at the head of every page, so that a printed draft is never taken for the published report."""
    for header in (section.header, section.even_page_header):
        paragraph = header.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        set_font(paragraph.add_run("草稿")._r, "heading", SIZES["heading"])
