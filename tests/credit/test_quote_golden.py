"""Quoting is byte for byte what it was before the quoting-cost work (the fourth session of
issue 14): for every packaged installment plan (every version) and the pay-later line, a
few prices on a month-end and an ordinary day, each offer's figures, its exact rates and
its key-facts document in both languages hash to the digests computed on the code before
it (main at f1a9f37). The document's SHA-256 is an API contract (``key_facts_sha256``),
and the rates are stored with each quote as full strings: nothing may change but speed.

When a figure or the template is meant to change (a new ``TEMPLATE_VERSION``, a catalogue
change), re-pin these digests in the same commit, saying why."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from creditpay.credit import products as P
from creditpay.credit.offers import exact_rates, price_products
from creditpay.payments.credit_port import _key_facts_of, _shown
from creditpay.protection.disclosure import render_document
from tests.catalogues import CATALOGUE

DATES = (dt.date(2024, 1, 31), dt.date(2025, 3, 2))
AMOUNTS = (3000, 12345, 600000, 4999999)


def _digests(as_of: dt.date, amount: int) -> dict[str, str]:
    line = CATALOGUE.get("huabei")
    plans = [p for p in CATALOGUE.all() if isinstance(p, P.InstallmentPlanProduct)]
    priced = price_products([line, *plans], customer_id="cus_golden", amount_minor=amount,
                            currency="CNY", as_of=as_of, available_minor=1_000_000,
                            reference="pi_golden")
    found = {}
    for offer, costs in priced:
        figures = dict(offer.figures(), currency="CNY")
        rates = exact_rates(costs) if costs is not None else None
        facts = _key_facts_of(_shown(figures), offer.offer_id, "creditpay", CATALOGUE, costs,
                              rates)
        digest = hashlib.sha256()
        digest.update(json.dumps([figures, rates], sort_keys=True).encode())
        for language in ("zh-CN", "en"):
            digest.update(render_document(facts, language).html)
        key = (f"{as_of}|{amount}|{offer.product_code}|v{offer.product_version}|"
               f"{offer.periods}|{offer.down_payment_rate}")
        found[key] = digest.hexdigest()
    return found


@pytest.mark.parametrize("as_of", DATES, ids=str)
@pytest.mark.parametrize("amount", AMOUNTS)
def test_every_offer_figure_and_document_is_the_pinned_one(as_of: dt.date,
                                                           amount: int) -> None:
    found = _digests(as_of, amount)
    pinned = {key: digest for key, digest in PINNED.items()
              if key.startswith(f"{as_of}|{amount}|")}
    assert found == pinned


# Computed on main at f1a9f37 (before the quoting-cost work): figures JSON, exact rates,
# then the zh-CN and en documents' bytes, per offer.
PINNED = {
    "2024-01-31|3000|huabei|v1|1|0":
        "56f10090ced6c48e06d6b6ed9cee4694ba3fd7e85dd543dc4de62bee4d918bc5",
    "2024-01-31|12345|huabei|v1|1|0":
        "6448161b75dd4510a8878bfaf7cc464750a173201e333b53dbf5ba534afa74d4",
    "2024-01-31|12345|baitiao_free|v1|3|0":
        "a8ec0e4326d038e2433c791ab0033c8fd862b2ebddc8903b8615f4914a4b9991",
    "2024-01-31|12345|baitiao_free|v1|6|0":
        "952ed2077222bba29c17c8051aeb02474b4eb75333e5b0075b286ef1d6c7672e",
    "2024-01-31|12345|baitiao_free|v2|3|0":
        "cac4c720d104a71ccf9e3d9bfde90415c8186aadbb912fe14f0f485ff9949e3c",
    "2024-01-31|12345|baitiao_free|v2|6|0":
        "8c6a38457f83269de31f6bdbcb613e14dd09e0769cdf85dc01d1d270c3635c9e",
    "2024-01-31|12345|baitiao|v1|3|0":
        "2a1056427dba1209a41cbd195bb5ddc62df704251fe8529dd6de7b9af4d061f4",
    "2024-01-31|12345|baitiao|v1|6|0":
        "c1a1492c618d3e0e37d5f8bc95b2bb6d315fef68e078bf8f335d43f7de43202a",
    "2024-01-31|12345|baitiao|v1|9|0":
        "94e98aeb7ab476ab0bc8b7cf9d04a6260e8550134664efd1526dfc2f96f420f9",
    "2024-01-31|12345|baitiao|v1|12|0":
        "923fb6f6addc352dd0427e3df182a351f990fe443065b13438d70545b3c4bb49",
    "2024-01-31|12345|baitiao|v1|24|0":
        "105aeec3cd31037e54543dd295b4dd9a8ada2d8c16365edac5d1b662a552e0c3",
    "2024-01-31|12345|payin4|v1|3|0.25":
        "67925fb53c83081ef7c88f9ad13c00a0a0e12909af25ceb1d5d4421c14ee4ac7",
    "2024-01-31|600000|huabei|v1|1|0":
        "926d4f73800e73384a4766fdc1de9e1a40b0fcc5326645afcfee423c7d3124ba",
    "2024-01-31|600000|apr_plan|v1|3|0.1":
        "20af7acd280654f82e2ab9d162aecff5881feae13366614ac2a457d53be27bf7",
    "2024-01-31|600000|apr_plan|v1|6|0.1":
        "6442342ede3d4b4455e1598188ed083a9db57ce24dd4a24fd7c88a8596b751ec",
    "2024-01-31|600000|apr_plan|v1|12|0.1":
        "ff026c8bc1fa68786a99586544e07afa6bb3342561297f19834bd69887a7dd19",
    "2024-01-31|600000|baitiao_free|v1|3|0":
        "12a1550eefc6941f4e2f0ed1762ed49e448a6cc7169a07c7f386ceb81f21bdbb",
    "2024-01-31|600000|baitiao_free|v1|6|0":
        "3049005e595ad3a9e7cc97edef15a7ce0a2450c544395140a7aaa4296b1920ad",
    "2024-01-31|600000|baitiao_free|v2|3|0":
        "9832597c96807edd734e6e8e1c30549267398f27f9cacde417c817c9da737654",
    "2024-01-31|600000|baitiao_free|v2|6|0":
        "5c4f20fd6e581fddcb2cbc84a043fd1991de97c9979b8daf0e5c0e0589a5e12e",
    "2024-01-31|600000|baitiao_free|v2|6|0.2":
        "83cc600c553e55d1345e748fec5b5e9ee9f2c2ac86f2abd0dddc13b97c4193fc",
    "2024-01-31|600000|baitiao|v1|3|0":
        "0e6770c876ebb813629b6f63539cbacddb31439af8b23603ee153297aa614a74",
    "2024-01-31|600000|baitiao|v1|6|0":
        "03a16cf8d608503a6fb9683eb02c4a8a867d96f7a616b4a4129939478de6f20e",
    "2024-01-31|600000|baitiao|v1|9|0":
        "3fb2be7f5e5f4a9b001c8871eb22e55b232acbd615cde665917aec3029be463b",
    "2024-01-31|600000|baitiao|v1|12|0":
        "da6555c3d722c60d5391a7568dc0eaa572306342c60e765ad899f7eb145e6966",
    "2024-01-31|600000|baitiao|v1|24|0":
        "72ffac267fc74aba9174c9df6f9c6b882468b373a6aae2196c229680ca1c7aaa",
    "2024-01-31|600000|payin4|v1|3|0.25":
        "028899d3caffb0f9ff3ee57e15166141fb04adeb452164f1f08bd579809fb2cc",
    "2024-01-31|4999999|huabei|v1|1|0":
        "96591e2dce827c8e7b4651db49eeaf9922ce202c0c74e43e2330a4641c8e5dd9",
    "2024-01-31|4999999|apr_plan|v1|3|0.1":
        "3c361cc547213ca59a4eda0e0f1c14d3a6e1dd9c59cddd491d955faf072c4898",
    "2024-01-31|4999999|apr_plan|v1|6|0.1":
        "3c1d940c05dc91aba4106511cdf76a320012d13949ce3778995a264f502f0795",
    "2024-01-31|4999999|apr_plan|v1|12|0.1":
        "654a74767e241acdba2ae1ceb211c7890852427b9c466d0dfbd708f9e00a7b43",
    "2024-01-31|4999999|baitiao_free|v1|3|0":
        "b5bea7b8993ef9eaa85345898cc6924d64997f5b755d2d391b3d3b0d0d9d46ff",
    "2024-01-31|4999999|baitiao_free|v1|6|0":
        "0b967c8fcc3d49c71dd8b20c1cc7e6f9abefb65224485f45620f9c9a8d6ea227",
    "2024-01-31|4999999|baitiao_free|v2|3|0":
        "96aa3ae49779f33eaddd388302f31f7be15b9f0518304da71156b56a1bd40107",
    "2024-01-31|4999999|baitiao_free|v2|6|0":
        "94d98de21907573fcd201030488c560d75597dafd08935055f9c85221f65d89a",
    "2024-01-31|4999999|baitiao_free|v2|6|0.2":
        "ae9efacabea36260cdb2895233853d8d9451556ee402fdb96964a979cb135a64",
    "2024-01-31|4999999|baitiao|v1|3|0":
        "e8e893d54a3a9515bf90f99ef0ee8c16aabfd31d85a2258eab1a5da883924b74",
    "2024-01-31|4999999|baitiao|v1|6|0":
        "d8a8241f2072e3166c82c0c173f2bd99976549f6096501e9cd94bec9d41eeb05",
    "2024-01-31|4999999|baitiao|v1|9|0":
        "630e177d8f405e4da8c057c5ead13c56320025defad939c2ff98de085bc4f54d",
    "2024-01-31|4999999|baitiao|v1|12|0":
        "ec12e7741c76cb2c6beb58e948c1d27de336ad213c03d73b38ec95b103c77216",
    "2024-01-31|4999999|baitiao|v1|24|0":
        "6c82cce4e531ba8cdff74768dd35ff271c199fd3bfea7ef0078e5b323a902851",
    "2025-03-02|3000|huabei|v1|1|0":
        "86ec130983ab79e30d92a96e59966b78e35466f5fa80ff2180a33fe7e68a8e66",
    "2025-03-02|12345|huabei|v1|1|0":
        "dba5446dac3eeb761349e1be164756002b31902757bb22bd0ef4aee3a26dbcc7",
    "2025-03-02|12345|baitiao_free|v1|3|0":
        "ca2d92cd7c2211b7dccd6a26e06e7005c4c93601361a058174db32532a9e9be0",
    "2025-03-02|12345|baitiao_free|v1|6|0":
        "14009e6f696a55eac47594cfd02b48fc0250850c48ad0fa2676a3c0d49581ab6",
    "2025-03-02|12345|baitiao_free|v2|3|0":
        "3862a98f931ec4e50fd9de2658ac2d826d9e3d0a89d4f478d776a3664c09a748",
    "2025-03-02|12345|baitiao_free|v2|6|0":
        "5abeb1269613317fba18b2ce01f682e4244194a0a71250ac6b96ab455a32c60d",
    "2025-03-02|12345|baitiao|v1|3|0":
        "761ee0118906e4f216f90193241347c4b688f39a720f6496561eec78da8c1059",
    "2025-03-02|12345|baitiao|v1|6|0":
        "353d65f31c63930c13d86a1e91dafdd36e9e31b70432f714d3c64dfa16ac6dac",
    "2025-03-02|12345|baitiao|v1|9|0":
        "83267e559ce9be979783cf01ca5b1704418d6eb946cff74fd00f8ce96749ac91",
    "2025-03-02|12345|baitiao|v1|12|0":
        "445097b5ef3d9950fa807a290f4c52193db47eba43fa905505a6ae2a2e5fb926",
    "2025-03-02|12345|baitiao|v1|24|0":
        "83008d40750fdf2be1f7665ee5d41ecdfde0671fdfc1dd07b9dfc5662b31737e",
    "2025-03-02|12345|payin4|v1|3|0.25":
        "192d860d2156a3908c38c6e2baaa1c4e0485b9aac48bc96dce53e7ee9ee46f59",
    "2025-03-02|600000|huabei|v1|1|0":
        "cc067602aebdcefdd61182e7d72eed1996dc0a300cd22f3a6f43c8b3820463c3",
    "2025-03-02|600000|apr_plan|v1|3|0.1":
        "790e666855e47a88c875dbd7ba3901cdd6ec490816bfc85eb0ee3a53c4e651cf",
    "2025-03-02|600000|apr_plan|v1|6|0.1":
        "cba63f65eca76695a6e9337de509f1d94029176d60daf20bd5be880b1033124c",
    "2025-03-02|600000|apr_plan|v1|12|0.1":
        "51ad609a6c682349868cc8b674918edc50644cb7a149d11de3e95d57141a507f",
    "2025-03-02|600000|baitiao_free|v1|3|0":
        "7ae460687c87133968a6b378c0e60afabc93fe0a586282f830f2d7b0cb00d025",
    "2025-03-02|600000|baitiao_free|v1|6|0":
        "a37c4748ab8e823b120383a6e05cd42c8f228db744bb4729c0a671c74e0ac294",
    "2025-03-02|600000|baitiao_free|v2|3|0":
        "04c5e7ea51b96d15dbee7d499a75faf4586f0dd68d129b024e23abc7ae84c1bf",
    "2025-03-02|600000|baitiao_free|v2|6|0":
        "edd8ec8b5d1e6d2aff779d7e55c7dd6c5069a1f9aa2ae53673bdc1e1808c8fa3",
    "2025-03-02|600000|baitiao_free|v2|6|0.2":
        "a6561188146b1530bdbe1ee4e130fa5598d81bf6326b8ba729f99d2f12432423",
    "2025-03-02|600000|baitiao|v1|3|0":
        "b078081c5458a81abfbc1b5b76bcea78021fad27082ef6cf44c5e8dae794f445",
    "2025-03-02|600000|baitiao|v1|6|0":
        "e71f24e7e29e987cd319ad3e71b8c136e512f09e2dc8201b581a40a5736a13f1",
    "2025-03-02|600000|baitiao|v1|9|0":
        "8308f344a9446f29190e447e1d68439789f2a8ade8a2f360538185e701aa1945",
    "2025-03-02|600000|baitiao|v1|12|0":
        "144e45fe0bc1903d85d26fd56dbdce7646ec91bda141f2db5b059556654e397a",
    "2025-03-02|600000|baitiao|v1|24|0":
        "182fd48c35f292389c788f62bc9ff027c3bbe91194cd1e7c28c49c272d202c7f",
    "2025-03-02|600000|payin4|v1|3|0.25":
        "416cc230f30d57e946978f9b36d312b5bf9c9df2e9f62292c24c52a340adf81e",
    "2025-03-02|4999999|huabei|v1|1|0":
        "01b587ff3709d6c1cefff243c45c8d76c738baecfa435547426912a628ab1fe9",
    "2025-03-02|4999999|apr_plan|v1|3|0.1":
        "90e27f8b48bbc064bc6079a8920c801d2ed50db4ce423e882cc450d62ebff14f",
    "2025-03-02|4999999|apr_plan|v1|6|0.1":
        "3e204025b8e1ba2ac6b9648b0c7db0b6ddd0fe46432d5d08603e935552f3f345",
    "2025-03-02|4999999|apr_plan|v1|12|0.1":
        "17e98c7c893393d54cf94533fa145c455952a55e71f6598a1dee9b9951080d78",
    "2025-03-02|4999999|baitiao_free|v1|3|0":
        "c3b1292c34c2f8e147a183e214627d32124db9de56e9ff01bf5eebd2a6ad8772",
    "2025-03-02|4999999|baitiao_free|v1|6|0":
        "4e5d04bada402bb931a99971db5c1a327953e999c0b1ea0a25c17cd6557e01ad",
    "2025-03-02|4999999|baitiao_free|v2|3|0":
        "fc4a85090caf62c163598f61248fdc59f606241efc61fa3b208495ec0d5f8f5e",
    "2025-03-02|4999999|baitiao_free|v2|6|0":
        "715ce410ae626f301a87dd11bf8b6a6092737521cf7e85dce6731b1503d45a7c",
    "2025-03-02|4999999|baitiao_free|v2|6|0.2":
        "970ff327b7ffb040d02f1bbb25e972884fbfefb5134ed62756c695a1a760ce85",
    "2025-03-02|4999999|baitiao|v1|3|0":
        "0e4a777c5f8a58dbaf3080fc5c1edce14bb690300a29c6dc521a85e61aacc976",
    "2025-03-02|4999999|baitiao|v1|6|0":
        "69aba855df4ee09e4b09dfe561e3256bc362392701c1ebf44fbf20e2797dab2e",
    "2025-03-02|4999999|baitiao|v1|9|0":
        "d59f4bd164c804cef9f24e61a27320b4dbc118e9071571879f6d588a2d3ea6e4",
    "2025-03-02|4999999|baitiao|v1|12|0":
        "46316f66fd2c637f1891c73ca1d48dd63aeac7e500b26cfe3cdbb292ed1297c7",
    "2025-03-02|4999999|baitiao|v1|24|0":
        "1515e974794826d527208998182e90d51465d6abea5fcc62d682c2e083f525e0",
}
