"""Carbon-skeleton chemistry of terpene synthase products (RDKit).

A functional ensemble is the set of products that share one carbon skeleton. Terpene
synthases build the skeleton through carbocation chemistry and then quench the final
cation by deprotonation (alkenes), water capture (alcohols) or an internal ether; the
position of double bonds, hydroxy groups and the stereochemistry vary between close
relatives (limonene / terpinenes / terpinolene / alpha-terpineol / 1,8-cineole) while the
carbon framework is what the enzyme's fold dictates. The skeleton is therefore:

1. stereochemistry dropped (so (+)- and (-)-forms fall together);
2. every heteroatom deleted, except a diphosphate group: prenyl diphosphates and copalyl
   diphosphate are products of different enzymes (prenyltransferases, class II
   cyclases) than the hydrocarbons of the same skeleton, so they stay apart (GPP vs
   linalool). The diphosphate is kept as a neutral ``OP(=O)(O)OP(=O)(O)O`` group;
3. all carbon-carbon bonds made single, atoms neutral and non-aromatic (p-cymene joins
   the p-menthanes it is made from);
4. the largest carbon fragment kept (counter-ions, acetate of an ester, and the pieces of
   a ring opened by deleting an ether oxygen that are not the main framework);
5. canonical SMILES without stereochemistry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from rdkit import Chem, RDLogger

# RDKit prints parse failures to stderr; callers turn them into per-row rejections instead.
RDLogger.DisableLog("rdApp.*")

DIPHOSPHATE = Chem.MolFromSmarts("P(~O)(~O)(~O)~O~P(~O)(~O)~O")
DIPHOSPHATE_SUFFIX = "OP(=O)(O)OP(=O)(O)O"


class SmilesError(ValueError):
    """A SMILES string RDKit cannot parse into a molecule."""


@dataclass(frozen=True)
class Skeleton:
    """Carbon skeleton of one product."""

    smiles: str  # canonical SMILES of the framework (diphosphate kept where present)
    carbon_count: int
    diphosphate: bool
    ring_count: int  # independent rings of the framework


def parse_smiles(smiles: str) -> Chem.Mol:
    """Parse a SMILES string or raise SmilesError with the reason."""
    text = (smiles or "").strip()
    if not text:
        raise SmilesError("empty SMILES")
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise SmilesError(f"RDKit cannot parse SMILES {text!r}")
    if mol.GetNumAtoms() == 0:
        raise SmilesError(f"SMILES {text!r} has no atoms")
    return mol


def _diphosphate_atoms(mol: Chem.Mol) -> set[int]:
    """Indices of the P and O atoms of every diphosphate group in ``mol``."""
    atoms: set[int] = set()
    for match in mol.GetSubstructMatches(DIPHOSPHATE):
        atoms.update(match)
    return atoms


def _carbon_framework(mol: Chem.Mol, keep: set[int]) -> Chem.Mol:
    """Copy of ``mol`` with only carbons (and the ``keep`` atoms), all C-C bonds single."""
    editable = Chem.RWMol(mol)
    for bond in editable.GetBonds():
        bond.SetStereo(Chem.BondStereo.STEREONONE)
        bond.SetIsAromatic(False)
        if bond.GetBeginAtomIdx() in keep and bond.GetEndAtomIdx() in keep:
            # P=O stays a double bond so phosphorus keeps a valid valence.
            if bond.GetBondType() == Chem.BondType.AROMATIC:
                bond.SetBondType(Chem.BondType.SINGLE)
            continue
        bond.SetBondType(Chem.BondType.SINGLE)
    for atom in editable.GetAtoms():
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
        atom.SetIsAromatic(False)
        atom.SetFormalCharge(0)
        atom.SetIsotope(0)
        atom.SetNumRadicalElectrons(0)
        atom.SetNoImplicit(False)
        atom.SetNumExplicitHs(0)
    doomed = [
        atom.GetIdx()
        for atom in editable.GetAtoms()
        if atom.GetAtomicNum() != 6 and atom.GetIdx() not in keep
    ]
    for index in sorted(doomed, reverse=True):
        editable.RemoveAtom(index)
    framework = editable.GetMol()
    Chem.SanitizeMol(framework)
    return framework


def _carbons(mol: Chem.Mol) -> int:
    return sum(1 for atom in mol.GetAtoms() if atom.GetAtomicNum() == 6)


@functools.lru_cache(maxsize=8192)
def skeleton_of(smiles: str) -> Skeleton:
    """Carbon skeleton of a product SMILES (see module docstring); raises SmilesError."""
    mol = parse_smiles(smiles)
    keep = _diphosphate_atoms(mol)
    framework = _carbon_framework(mol, keep)
    if _carbons(framework) == 0:
        raise SmilesError(f"SMILES {smiles.strip()!r} has no carbon atoms")
    fragments = Chem.GetMolFrags(framework, asMols=True, sanitizeFrags=True)
    # Largest carbon framework; ties broken by SMILES so the choice is reproducible.
    scored = [(-_carbons(frag), Chem.MolToSmiles(frag, isomericSmiles=False)) for frag in fragments]
    best_negative_carbons, best_smiles = min(scored)
    best = Chem.MolFromSmiles(best_smiles)
    diphosphate = best.HasSubstructMatch(DIPHOSPHATE)
    return Skeleton(
        smiles=best_smiles,
        carbon_count=-best_negative_carbons,
        diphosphate=diphosphate,
        # Cyclomatic number: pinane has 2 rings (RDKit's symmetrised ring set says 3).
        ring_count=best.GetNumBonds() - best.GetNumAtoms() + 1,
    )


def carbon_count(smiles: str) -> int:
    """Number of carbon atoms of a molecule."""
    return _carbons(parse_smiles(smiles))
